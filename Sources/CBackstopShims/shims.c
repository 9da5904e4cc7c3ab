#include "CBackstopShims.h"
#include <openssl/bio.h>
#include <openssl/crypto.h>

long backstop_bio_mem_data(void *bio, const char **data) {
    char *pointer = NULL;
    long length = BIO_get_mem_data((BIO *)bio, &pointer);
    *data = pointer;
    return length;
}

void backstop_openssl_free(void *pointer) {
    OPENSSL_free(pointer);
}
