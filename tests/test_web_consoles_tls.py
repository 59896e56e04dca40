"""`cc-console web` over TLS: the front door speaks only TLS 1.2+ with the configured certificate,
and its session cookie is Secure."""
from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cc_console.web_consoles import WebConsoles

from .conftest import PASSWORD


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


async def test_front_door_over_tls_with_a_secure_cookie(server, tmp_path):
    cert, key = self_signed(tmp_path)
    wc = WebConsoles(server.url, port=0, tls_cert=cert, tls_key=key)
    await wc.start()
    try:
        trust = ssl.create_default_context(cafile=cert)
        old = ssl.create_default_context(cafile=cert)
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        async with aiohttp.ClientSession() as http:
            async with http.post(f"https://127.0.0.1:{wc.port}/login", ssl=trust, allow_redirects=False,
                                 data={"username": "agent1", "password": PASSWORD, "next": "/agent"}) as r:
                assert r.status == 303
                assert "Secure" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
            _, writer = await asyncio.open_connection("127.0.0.1", wc.port, ssl=trust)
            assert writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
            writer.close()
            with pytest.raises(aiohttp.ClientError):  # plain http is not served
                async with http.get(f"http://127.0.0.1:{wc.port}/login"):
                    pass
            with pytest.raises(aiohttp.ClientError):  # nor TLS older than 1.2
                async with http.get(f"https://127.0.0.1:{wc.port}/login", ssl=old):
                    pass
    finally:
        await wc.stop()
