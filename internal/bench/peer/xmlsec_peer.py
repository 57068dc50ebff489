"""libxmlsec1 in process, the peer our sign and verify paths are measured
against: Debian's python3-xmlsec (lxml + libxmlsec1 with OpenSSL), one
thread, the same message, key and profile as ours (exclusive C14N,
RSA-SHA256 or ECDSA-SHA256, SHA-256, enveloped, X509 certificate in
KeyInfo).

Usage: xmlsec_peer.py sign|verify KEY.pem CERT.pem MESSAGE.xml SECONDS [rsa|ecdsa]
sign:   MESSAGE is the unsigned message; one op = parse it, add the
        signature template, sign, serialise.
verify: MESSAGE is the signed message; one op = parse it, find the
        signature, verify with the certificate's key (loaded once).
Prints one JSON line: {"op": ..., "ops": N, "seconds": S, "ops_per_s": R,
"cpu_seconds": C, "ops_per_cpu_s": Q}: wall-clock and CPU-time rates (on a
shared machine the CPU-time rate is the steadier of the two).
"""
import json
import sys
import time

import xmlsec
from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"


def main():
    op, key_file, cert_file, msg_file, seconds = sys.argv[1:6]
    seconds = float(seconds)
    data = open(msg_file, "rb").read()
    if op == "sign":
        key = xmlsec.Key.from_file(key_file, xmlsec.constants.KeyDataFormatPem)
        key.load_cert_from_file(cert_file, xmlsec.constants.KeyDataFormatPem)
        probe = etree.fromstring(data)
        method = xmlsec.constants.TransformRsaSha256
        if sys.argv[6:7] == ["ecdsa"]:
            method = xmlsec.constants.TransformEcdsaSha256

        def one():
            root = etree.fromstring(data)
            sig = xmlsec.template.create(root, xmlsec.constants.TransformExclC14N, method, ns="ds")
            root.append(sig)
            ref = xmlsec.template.add_reference(sig, xmlsec.constants.TransformSha256, uri="")
            xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
            xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
            ki = xmlsec.template.ensure_key_info(sig)
            xmlsec.template.add_x509_data(ki)
            ctx = xmlsec.SignatureContext()
            ctx.key = key
            ctx.sign(sig)
            return etree.tostring(root)
        del probe
    elif op == "verify":
        key = xmlsec.Key.from_file(cert_file, xmlsec.constants.KeyDataFormatCertPem)

        def one():
            root = etree.fromstring(data)
            sig = xmlsec.tree.find_node(root, xmlsec.constants.NodeSignature)
            ctx = xmlsec.SignatureContext()
            ctx.key = key
            ctx.verify(sig)
    else:
        raise SystemExit("usage: xmlsec_peer.py sign|verify KEY CERT MESSAGE SECONDS")

    one()  # must work before anything is timed
    n = 0
    cpu0 = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            one()
        n += 50
        now = time.perf_counter()
        if now >= deadline:
            break
    elapsed = now - start
    cpu = max(time.process_time() - cpu0, 1e-9)
    print(json.dumps({"op": op, "ops": n, "seconds": elapsed, "ops_per_s": n / elapsed,
                      "cpu_seconds": cpu, "ops_per_cpu_s": n / cpu}))


if __name__ == "__main__":
    main()
