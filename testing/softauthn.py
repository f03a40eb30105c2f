"""A software WebAuthn authenticator: real ES256 keys, CBOR and signatures, no browser.

It answers creation and request options the way a browser and a platform
authenticator together would (the JSON of `PublicKeyCredential.toJSON()`), and
lets a test bend what a browser never would: the origin, the RP id, the
signature counter, the user-verification flag, the challenge.
"""

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
AAGUID = bytes(16)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def client_data(kind, challenge, origin):
    return json.dumps(
        {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
    ).encode()


@dataclass
class Credential:
    """One credential held by the authenticator."""

    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_public_key(self):
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


@dataclass
class SoftAuthenticator:
    origin: str = "http://localhost:8000"
    credentials: list = field(default_factory=list)

    def create(
        self, options, *, origin=None, rp_id=None, user_verified=True, challenge=None, reuse=None
    ):
        """Answer creation options with a new credential: (RegistrationResponseJSON, Credential).

        `reuse` attests an existing credential again (its id and key), as a
        client replaying someone's registration would.
        """
        rp_id = rp_id or options["rp"]["id"]
        credential = reuse or Credential(
            credential_id=os.urandom(32),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id,
            user_handle=unb64url(options["user"]["id"]),
        )
        flags = UP | AT | (UV if user_verified else 0)
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([flags])
            + credential.sign_count.to_bytes(4, "big")
            + AAGUID
            + len(credential.credential_id).to_bytes(2, "big")
            + credential.credential_id
            + credential.cose_public_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        data = client_data(
            "webauthn.create", challenge or options["challenge"], origin or self.origin
        )
        if reuse is None:
            self.credentials.append(credential)
        response = {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
        return response, credential

    def get(
        self,
        options,
        credential=None,
        *,
        origin=None,
        rp_id=None,
        user_verified=True,
        sign_count=None,
        challenge=None,
        user_handle=True,
    ):
        """Answer request options with an assertion (AuthenticationResponseJSON).

        As an authenticator, it answers only with a credential that options'
        `allowCredentials` lists, or with any of its own when that is empty (all
        of them are discoverable). The counter goes up by one unless `sign_count`
        says what to claim.
        """
        credential = credential or self.credentials[-1]
        allowed = [unb64url(listed["id"]) for listed in options.get("allowCredentials") or []]
        if allowed and credential.credential_id not in allowed:
            raise LookupError("NotAllowedError: the credential is not in allowCredentials")
        credential.sign_count = credential.sign_count + 1 if sign_count is None else sign_count
        rp_id = rp_id or options.get("rpId") or credential.rp_id
        flags = UP | (UV if user_verified else 0)
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([flags])
            + credential.sign_count.to_bytes(4, "big")
        )
        data = client_data("webauthn.get", challenge or options["challenge"], origin or self.origin)
        signature = credential.private_key.sign(
            auth_data + hashlib.sha256(data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle) if user_handle else None,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
