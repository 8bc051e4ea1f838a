// C edge for libhdf5. Only the Store module imports this module.
// HDF5's type and flag "constants" are macros that call H5open() at run time,
// which Swift cannot import; each gets a static inline getter here.
#include <hdf5.h>
#define BL_SHIM static inline __attribute__((__always_inline__))

BL_SHIM hid_t bl_h5p_default(void) { return H5P_DEFAULT; }
BL_SHIM hid_t bl_h5s_all(void) { return H5S_ALL; }
BL_SHIM unsigned bl_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
BL_SHIM unsigned bl_h5f_acc_excl(void) { return H5F_ACC_EXCL; }
BL_SHIM unsigned bl_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
BL_SHIM unsigned bl_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
BL_SHIM hid_t bl_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
BL_SHIM hid_t bl_h5p_link_create(void) { return H5P_LINK_CREATE; }
BL_SHIM hid_t bl_h5p_file_access(void) { return H5P_FILE_ACCESS; }
BL_SHIM hid_t bl_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
BL_SHIM hid_t bl_h5t_native_int8(void) { return H5T_NATIVE_INT8; }
BL_SHIM hid_t bl_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
BL_SHIM hid_t bl_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
BL_SHIM hid_t bl_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
BL_SHIM hid_t bl_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
BL_SHIM hid_t bl_h5t_c_s1(void) { return H5T_C_S1; }
BL_SHIM size_t bl_h5t_variable(void) { return H5T_VARIABLE; }
BL_SHIM hsize_t bl_h5s_unlimited(void) { return H5S_UNLIMITED; }
/// Silences libhdf5's default error printing on the default error stack.
BL_SHIM void bl_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
