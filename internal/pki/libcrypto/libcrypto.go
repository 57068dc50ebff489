// Package libcrypto signs RSA PKCS#1 v1.5 / SHA-256 digests with the
// system's OpenSSL (libcrypto, through cgo): the one operation where Go's
// crypto/rsa is the limit of the hub's sign path (about a third of
// OpenSSL's signatures per second on one core for RSA-2048, see
// docs/DECISIONS.md). It is deliberately thin: the key is handed over
// once as PKCS#8 DER, each signature is one EVP_PKEY_sign call on a
// fresh context, nothing else of OpenSSL is used. RSA PKCS#1 v1.5 is
// deterministic, so the tests hold every signature byte for byte to the
// one crypto/rsa makes with the same key.
package libcrypto

/*
#cgo LDFLAGS: -lcrypto
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

static EVP_PKEY *gh_load_key(const unsigned char *der, long len) {
	const unsigned char *p = der;
	return d2i_AutoPrivateKey(NULL, &p, len);
}

static int gh_sign_sha256(EVP_PKEY *k, const unsigned char *dg, size_t dglen, unsigned char *sig, size_t *siglen) {
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	if (c == NULL) {
		return 0;
	}
	int ok = EVP_PKEY_sign_init(c) > 0 &&
		EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0 &&
		EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) > 0 &&
		EVP_PKEY_sign(c, sig, siglen, dg, dglen) > 0;
	EVP_PKEY_CTX_free(c);
	return ok;
}

static int gh_key_bits(EVP_PKEY *k) { return EVP_PKEY_get_bits(k); }
static void gh_free_key(EVP_PKEY *k) { EVP_PKEY_free(k); }
*/
import "C"

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"runtime"
	"unsafe"
)

// RSASigner is an RSA private key held by libcrypto. Safe for concurrent
// use: every signature gets its own EVP_PKEY_CTX.
type RSASigner struct {
	pub  *rsa.PublicKey
	key  *C.EVP_PKEY
	size int
}

// NewRSASigner hands key to libcrypto.
func NewRSASigner(key *rsa.PrivateKey) (*RSASigner, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("libcrypto: %w", err)
	}
	k := C.gh_load_key((*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)))
	clear(der)
	if k == nil {
		return nil, errors.New("libcrypto: d2i_AutoPrivateKey refused the key")
	}
	if bits := int(C.gh_key_bits(k)); bits != key.N.BitLen() {
		C.gh_free_key(k)
		return nil, fmt.Errorf("libcrypto: key of %d bits loaded as %d", key.N.BitLen(), bits)
	}
	s := &RSASigner{pub: &key.PublicKey, key: k, size: key.Size()}
	runtime.SetFinalizer(s, func(s *RSASigner) { C.gh_free_key(s.key) })
	return s, nil
}

// Public is the key's public half.
func (s *RSASigner) Public() crypto.PublicKey { return s.pub }

// Sign signs a SHA-256 digest with PKCS#1 v1.5 padding (rand is unused:
// OpenSSL blinds with its own generator). Other hashes and PSS are
// refused: the profile needs neither.
func (s *RSASigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, pss := opts.(*rsa.PSSOptions); pss || opts.HashFunc() != crypto.SHA256 {
		return nil, errors.New("libcrypto: only RSA PKCS#1 v1.5 with SHA-256")
	}
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("libcrypto: digest of %d bytes, want %d", len(digest), sha256.Size)
	}
	sig := make([]byte, s.size)
	n := C.size_t(len(sig))
	ok := C.gh_sign_sha256(s.key, (*C.uchar)(unsafe.Pointer(&digest[0])), C.size_t(len(digest)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), &n)
	runtime.KeepAlive(s)
	if ok == 0 {
		return nil, errors.New("libcrypto: EVP_PKEY_sign failed")
	}
	return sig[:n], nil
}
