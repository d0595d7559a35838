#ifndef CLINUX_SHIM_H
#define CLINUX_SHIM_H
#include <sys/types.h>

/// Linux system calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc
/// module is built without. The prototypes are glibc's (unistd.h).

/// Copies `len` bytes between two files inside the kernel (glibc 2.27, Linux 4.5).
extern ssize_t copy_file_range(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t len, unsigned int flags);

#endif
