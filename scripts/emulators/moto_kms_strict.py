"""moto_server with AWS KMS's key-state rules, for the KMS endpoints of the test emulators.

moto 5.2.1 never refuses cryptographic operations on a Disabled or PendingDeletion key and
ignores a deletion window outside 7-30 days (see shared/EMULATORS.md), so it cannot tell
whether dropkeys' verifications are right. local-kms models these rules but lacks grants,
RotateKeyOnDemand and ListKeyRotations, which dropkeys uses, so this launcher stays the default
KMS of the tests and the drill: it adds exactly the documented AWS behaviour on top of moto and
then runs moto's own server. The test setup also starts local-kms, and
test/foundation/kms-emulators.test.ts runs the same key-state rules against both:

- Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, Sign, Verify, GenerateMac, VerifyMac and
  GetPublicKey on a Disabled key: DisabledException; on a PendingDeletion key:
  KMSInvalidStateException (AWS's key-state table).
- ScheduleKeyDeletion: PendingWindowInDays outside 7-30 is a ValidationException; a key
  already pending deletion is KMSInvalidStateException. EnableKey / DisableKey on a key pending
  deletion and CancelKeyDeletion on a key not pending deletion: KMSInvalidStateException.
- DisableKey, EnableKey, ScheduleKeyDeletion, CancelKeyDeletion accept a key ARN, as AWS does.
- Sign / Verify with MessageType DIGEST treat the message as the digest (moto hashes it again).

Usage: python3 moto_kms_strict.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""
import contextvars
import sys

from cryptography.hazmat.primitives.asymmetric import ec, utils as asym_utils
from moto.core.exceptions import JsonRESTError
from moto.kms import models, responses
from moto.kms import utils as kms_utils


class DisabledException(JsonRESTError):
    code = 400

    def __init__(self, arn):
        super().__init__("DisabledException", f"{arn} is disabled.")


class KMSInvalidStateException(JsonRESTError):
    code = 400

    def __init__(self, message):
        super().__init__("KMSInvalidStateException", message)


class ValidationException(JsonRESTError):
    code = 400

    def __init__(self, message):
        super().__init__("ValidationException", message)


Backend = models.KmsBackend


def _key(backend, key_id):
    """The Key for an id, ARN or alias; None when unknown (moto's own call then says NotFound)."""
    try:
        return backend.keys.get(backend.any_id_to_key_id(key_id))
    except Exception:  # noqa: BLE001 - unknown ids are reported by the original call
        return None


def _require_usable(backend, key_id):
    key = _key(backend, key_id)
    if key is None:
        return
    if key.key_state == "Disabled":
        raise DisabledException(key.arn)
    if key.key_state == "PendingDeletion":
        raise KMSInvalidStateException(f"{key.arn} is pending deletion.")


def _guard(name, key_arg, position):
    original = getattr(Backend, name)

    def wrapped(self, *args, **kwargs):
        key_id = kwargs.get(key_arg, args[position] if len(args) > position else None)
        if key_id is not None:
            _require_usable(self, key_id)
        return original(self, *args, **kwargs)

    setattr(Backend, name, wrapped)


for _name, _arg, _pos in [
    ("encrypt", "key_id", 0),
    ("generate_data_key", "key_id", 0),
    ("sign", "key_id", 0),
    ("verify", "key_id", 0),
    ("get_public_key", "key_id", 0),
    ("generate_mac", "key_id", 1),
    ("re_encrypt", "destination_key_id", 2),
]:
    _guard(_name, _arg, _pos)

_original_decrypt = Backend.decrypt


def _decrypt(self, ciphertext_blob, encryption_context, key_id=None):
    try:
        source = kms_utils._deserialize_ciphertext_blob(ciphertext_blob).key_id
    except Exception:  # noqa: BLE001 - malformed blobs are moto's InvalidCiphertextException
        source = None
    if source is not None:
        _require_usable(self, source)
    return _original_decrypt(self, ciphertext_blob, encryption_context, key_id)


Backend.decrypt = _decrypt


def _state_change(name, check):
    original = getattr(Backend, name)

    def wrapped(self, key_id, *args, **kwargs):
        key = _key(self, key_id)
        if key is not None:
            check(key, *args, **kwargs)
            key_id = key.id
        return original(self, key_id, *args, **kwargs)

    setattr(Backend, name, wrapped)


def _not_pending(key, *_args, **_kwargs):
    if key.key_state == "PendingDeletion":
        raise KMSInvalidStateException(f"{key.arn} is pending deletion.")


def _pending(key, *_args, **_kwargs):
    if key.key_state != "PendingDeletion":
        raise KMSInvalidStateException(f"{key.arn} is not pending deletion.")


def _schedulable(key, pending_window_in_days=30, *_args, **_kwargs):
    window = int(pending_window_in_days)
    if not 7 <= window <= 30:
        raise ValidationException(
            f"1 validation error detected: Value '{window}' at 'pendingWindowInDays' failed to satisfy "
            "constraint: Member must have value less than or equal to 30 and greater than or equal to 7"
        )
    _not_pending(key)


_state_change("disable_key", _not_pending)
_state_change("enable_key", _not_pending)
_state_change("cancel_key_deletion", _pending)
_state_change("schedule_key_deletion", _schedulable)

# MessageType DIGEST: the message is already the digest.
_digest = contextvars.ContextVar("digest", default=False)


def _with_message_type(name):
    original = getattr(responses.KmsResponse, name)

    def wrapped(self):
        token = _digest.set(self._get_param("MessageType") == "DIGEST")
        try:
            return original(self)
        finally:
            _digest.reset(token)

    setattr(responses.KmsResponse, name, wrapped)


_with_message_type("sign")
_with_message_type("verify")


def _ecdsa(self, signing_algorithm):
    algorithm = self._ECDSAPrivateKey__hash_algorithm(signing_algorithm)
    return ec.ECDSA(asym_utils.Prehashed(algorithm) if _digest.get() else algorithm)


def _ecdsa_sign(self, message, signing_algorithm):
    kms_utils.validate_signing_algorithm(signing_algorithm, self.valid_signing_algorithms)
    return self.private_key.sign(message, _ecdsa(self, signing_algorithm))


def _ecdsa_verify(self, message, signature, signing_algorithm):
    kms_utils.validate_signing_algorithm(signing_algorithm, self.valid_signing_algorithms)
    try:
        self.private_key.public_key().verify(signature, message, _ecdsa(self, signing_algorithm))
        return True
    except Exception:  # noqa: BLE001 - InvalidSignature, or a digest of the wrong length
        return False


kms_utils.ECDSAPrivateKey.sign = _ecdsa_sign
kms_utils.ECDSAPrivateKey.verify = _ecdsa_verify

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
