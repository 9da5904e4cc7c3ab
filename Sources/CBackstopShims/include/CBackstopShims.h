#ifndef BACKSTOP_SHIMS_H
#define BACKSTOP_SHIMS_H

#include <stddef.h>

/* OpenSSL types are passed as void * so that this header needs no OpenSSL include and
 * Swift can hand over its OpaquePointer values without rebinding. */

/* BIO_get_mem_data is a macro over BIO_ctrl: returns the length, sets *data. */
long backstop_bio_mem_data(void *bio, const char **data);

/* OPENSSL_free is a macro that adds the caller's file and line. */
void backstop_openssl_free(void *pointer);

/* Pins this process (and the children it starts) to the first `count` CPUs it may use,
 * saving the old mask in `saved` (at least 128 bytes); 0 on success. */
int backstop_pin_first_cpus(int count, void *saved, size_t size);

/* Restores the mask saved by backstop_pin_first_cpus; 0 on success. */
int backstop_restore_cpus(const void *saved, size_t size);

#endif
