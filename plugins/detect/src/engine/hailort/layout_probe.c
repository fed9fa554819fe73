/* SPDX-License-Identifier: MIT OR Apache-2.0
 * GENERATED from plugins/detect/src/engine/hailort/ffi.rs (do not edit; rewrite with
 * HMG_WRITE_LAYOUT_PROBE=1 cargo test -p hmg-detect --features hailo layout_probe).
 * Compiles only if hmg's HailoRT FFI agrees with the <hailo/hailort.h> it is built against.
 */
#include <stddef.h>
#include <hailo/hailort.h>

#define HMG_SAME(c_side, ffi_side) _Static_assert((c_side) == (ffi_side), #c_side " differs from hmg's FFI")

HMG_SAME(sizeof(hailo_version_t), 12);
HMG_SAME(offsetof(hailo_version_t, major), 0);
HMG_SAME(offsetof(hailo_version_t, minor), 4);
HMG_SAME(offsetof(hailo_version_t, revision), 8);
HMG_SAME(sizeof(hailo_vdevice_params_t), 40);
HMG_SAME(offsetof(hailo_vdevice_params_t, device_count), 0);
HMG_SAME(offsetof(hailo_vdevice_params_t, device_ids), 8);
HMG_SAME(offsetof(hailo_vdevice_params_t, scheduling_algorithm), 16);
HMG_SAME(offsetof(hailo_vdevice_params_t, group_id), 24);
HMG_SAME(offsetof(hailo_vdevice_params_t, multi_process_service), 32);
HMG_SAME(sizeof(hailo_format_t), 12);
HMG_SAME(offsetof(hailo_format_t, type), 0);
HMG_SAME(offsetof(hailo_format_t, order), 4);
HMG_SAME(offsetof(hailo_format_t, flags), 8);
HMG_SAME(sizeof(hailo_quant_info_t), 16);
HMG_SAME(offsetof(hailo_quant_info_t, qp_zp), 0);
HMG_SAME(offsetof(hailo_quant_info_t, qp_scale), 4);
HMG_SAME(offsetof(hailo_quant_info_t, limvals_min), 8);
HMG_SAME(offsetof(hailo_quant_info_t, limvals_max), 12);
HMG_SAME(sizeof(hailo_3d_image_shape_t), 12);
HMG_SAME(offsetof(hailo_3d_image_shape_t, height), 0);
HMG_SAME(offsetof(hailo_3d_image_shape_t, width), 4);
HMG_SAME(offsetof(hailo_3d_image_shape_t, features), 8);
HMG_SAME(sizeof(hailo_nms_shape_t), 16);
HMG_SAME(offsetof(hailo_nms_shape_t, number_of_classes), 0);
HMG_SAME(offsetof(hailo_nms_shape_t, max_bboxes_per_class), 4);
HMG_SAME(offsetof(hailo_nms_shape_t, max_accumulated_mask_size), 8);
HMG_SAME(offsetof(hailo_nms_shape_t, order_type), 12);
HMG_SAME(sizeof(hailo_vstream_info_t), 436);
HMG_SAME(offsetof(hailo_vstream_info_t, name), 0);
HMG_SAME(offsetof(hailo_vstream_info_t, network_name), 128);
HMG_SAME(offsetof(hailo_vstream_info_t, direction), 388);
HMG_SAME(offsetof(hailo_vstream_info_t, format), 392);
HMG_SAME(offsetof(hailo_vstream_info_t, shape), 404);
HMG_SAME(offsetof(hailo_vstream_info_t, quant_info), 420);
HMG_SAME(sizeof(hailo_vstream_params_t), 28);
HMG_SAME(offsetof(hailo_vstream_params_t, user_buffer_format), 0);
HMG_SAME(offsetof(hailo_vstream_params_t, timeout_ms), 12);
HMG_SAME(offsetof(hailo_vstream_params_t, queue_size), 16);
HMG_SAME(offsetof(hailo_vstream_params_t, vstream_stats_flags), 20);
HMG_SAME(offsetof(hailo_vstream_params_t, pipeline_elements_stats_flags), 24);

HMG_SAME(sizeof(hailo_input_vstream_params_by_name_t), 156);
HMG_SAME(offsetof(hailo_input_vstream_params_by_name_t, params), 128);
HMG_SAME(sizeof(hailo_output_vstream_params_by_name_t), 156);
HMG_SAME(offsetof(hailo_output_vstream_params_by_name_t, params), 128);
HMG_SAME(offsetof(hailo_vstream_info_t, nms_shape), 404);
HMG_SAME(offsetof(hailo_nms_shape_t, max_bboxes_total), 4);
HMG_SAME(offsetof(hailo_configure_params_t, network_group_params[0].batch_size), 136);
HMG_SAME(sizeof(hailo_configure_params_t) <= 1048576 ? 1 : 0, 1);
HMG_SAME(sizeof(hailo_status), 4);
HMG_SAME(sizeof(hailo_vdevice), 8);
HMG_SAME(sizeof(bool), 1);
HMG_SAME(HAILO_MAX_STREAM_NAME_SIZE, 128);
HMG_SAME(HAILO_MAX_NETWORK_NAME_SIZE, 257);
HMG_SAME(HAILO_MAX_STREAMS_COUNT, 40);
HMG_SAME(HAILO_MAX_NETWORK_GROUPS, 8);
HMG_SAME(HAILO_SCHEDULING_ALGORITHM_ROUND_ROBIN, 1);
HMG_SAME(HAILO_FORMAT_TYPE_AUTO, 0);
HMG_SAME(HAILO_FORMAT_TYPE_UINT8, 1);
HMG_SAME(HAILO_FORMAT_TYPE_FLOAT32, 3);
HMG_SAME(HAILO_FORMAT_ORDER_HAILO_NMS, 9);
HMG_SAME(HAILO_FORMAT_ORDER_HAILO_NMS_BY_CLASS, 22);
HMG_SAME(HAILO_H2D_STREAM, 0);

HMG_SAME(HAILO_SUCCESS, 0);
HMG_SAME(HAILO_UNINITIALIZED, 1);
HMG_SAME(HAILO_INVALID_ARGUMENT, 2);
HMG_SAME(HAILO_OUT_OF_HOST_MEMORY, 3);
HMG_SAME(HAILO_TIMEOUT, 4);
HMG_SAME(HAILO_INSUFFICIENT_BUFFER, 5);
HMG_SAME(HAILO_INVALID_OPERATION, 6);
HMG_SAME(HAILO_INTERNAL_FAILURE, 8);
HMG_SAME(HAILO_OPEN_FILE_FAILURE, 13);
HMG_SAME(HAILO_INVALID_HEF, 26);
HMG_SAME(HAILO_DRIVER_OPERATION_FAILED, 36);
HMG_SAME(HAILO_STREAM_ABORT, 63);
HMG_SAME(HAILO_DRIVER_NOT_INSTALLED, 64);
HMG_SAME(HAILO_NETWORK_GROUP_NOT_ACTIVATED, 69);
HMG_SAME(HAILO_DEVICE_IN_USE, 73);
HMG_SAME(HAILO_OUT_OF_PHYSICAL_DEVICES, 74);
HMG_SAME(HAILO_INVALID_DEVICE_ARCHITECTURE, 75);
HMG_SAME(HAILO_INVALID_DRIVER_VERSION, 76);
HMG_SAME(HAILO_RPC_FAILED, 77);
HMG_SAME(HAILO_INVALID_SERVICE_VERSION, 78);
HMG_SAME(HAILO_DRIVER_INVALID_RESPONSE, 85);
HMG_SAME(HAILO_DRIVER_INVALID_IOCTL, 86);
HMG_SAME(HAILO_DRIVER_TIMEOUT, 87);
HMG_SAME(HAILO_DRIVER_INTERRUPTED, 88);
HMG_SAME(HAILO_CONNECTION_REFUSED, 89);
HMG_SAME(HAILO_DRIVER_WAIT_CANCELED, 90);
