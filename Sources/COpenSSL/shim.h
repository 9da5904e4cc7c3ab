#ifndef BACKSTOP_COPENSSL_SHIM_H
#define BACKSTOP_COPENSSL_SHIM_H

/* Hide every API that OpenSSL 3 deprecates (the old EC key and low-level ECDSA calls). */
#ifndef OPENSSL_NO_DEPRECATED
#define OPENSSL_NO_DEPRECATED 1
#endif

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#endif
