// C edge for Open MPI (Debian's libopenmpi-dev). Only the MessagePassing module imports this module.
// MPI's handles (MPI_COMM_WORLD, MPI_BYTE, MPI_STATUS_IGNORE, ...) are macros over addresses of library
// globals, which Swift cannot import; each gets a static inline getter here.
#include <mpi.h>
#define BL_SHIM static inline __attribute__((__always_inline__))

BL_SHIM MPI_Comm bl_mpi_comm_world(void) { return MPI_COMM_WORLD; }
BL_SHIM MPI_Datatype bl_mpi_byte(void) { return MPI_BYTE; }
BL_SHIM MPI_Datatype bl_mpi_int64(void) { return MPI_INT64_T; }
BL_SHIM MPI_Op bl_mpi_max(void) { return MPI_MAX; }
BL_SHIM MPI_Request bl_mpi_request_null(void) { return MPI_REQUEST_NULL; }
BL_SHIM MPI_Status *bl_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
BL_SHIM MPI_Errhandler bl_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
BL_SHIM int bl_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
BL_SHIM int bl_mpi_any_source(void) { return MPI_ANY_SOURCE; }
BL_SHIM int bl_mpi_success(void) { return MPI_SUCCESS; }
/// The source of a received or probed message.
BL_SHIM int bl_mpi_status_source(const MPI_Status *s) { return s->MPI_SOURCE; }
