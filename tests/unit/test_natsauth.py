"""NatsCredentials: CAIO_NATS_* variables in, nats.connect keyword arguments out."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

import caio_integration.natsauth
from caio_integration.natsauth import ENV_VARS, NatsCredentials


def test_nothing_set_means_no_options() -> None:
    creds = NatsCredentials.from_env({})
    assert creds == NatsCredentials()
    assert creds.connect_options() == {}


def test_every_variable_is_read_and_empty_ones_count_as_unset() -> None:
    env = {var: f"value-of-{name}" for name, var in ENV_VARS.items()}
    env["CAIO_NATS_TOKEN"] = ""
    env["CAIO_NATS_NKEY_SEED"] = ""
    env["CAIO_NATS_CREDS"] = ""
    creds = NatsCredentials.from_env(env)
    assert creds.user == "value-of-user"
    assert creds.password == "value-of-password"
    assert creds.token is None
    assert creds.nkey_seed_file is None
    assert creds.tls_ca_file == "value-of-tls_ca_file"
    assert creds.inbox_prefix == "value-of-inbox_prefix"


def test_from_env_reads_the_process_environment_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CAIO_NATS_TOKEN", "s3cret-token")
    assert NatsCredentials.from_env().token == "s3cret-token"


def test_user_and_password_become_nats_options_with_the_inbox_prefix() -> None:
    env = {
        "CAIO_NATS_USER": "caller-alice",
        "CAIO_NATS_PASSWORD": "pw",
        "CAIO_NATS_INBOX_PREFIX": "_INBOX_alice",
    }
    assert NatsCredentials.from_env(env).connect_options() == {
        "user": "caller-alice",
        "password": "pw",
        "inbox_prefix": "_INBOX_alice",
    }


def test_a_token_becomes_the_token_option() -> None:
    assert NatsCredentials(token="t0k").connect_options() == {"token": "t0k"}


def test_seed_and_creds_files_become_nkeys_options_when_nkeys_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(caio_integration.natsauth, "_nkeys_installed", lambda: True)
    seed = tmp_path / "router.nk"
    seed.write_text("SUAEXAMPLE")
    creds_file = tmp_path / "router.creds"
    creds_file.write_text("-----BEGIN NATS USER JWT-----")
    assert NatsCredentials(nkey_seed_file=str(seed)).connect_options() == {"nkeys_seed": str(seed)}
    assert NatsCredentials(creds_file=str(creds_file)).connect_options() == {
        "user_credentials": str(creds_file)
    }


def test_seed_and_creds_files_without_the_nkeys_package_are_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(caio_integration.natsauth, "_nkeys_installed", lambda: False)
    seed = tmp_path / "router.nk"
    seed.write_text("SUAEXAMPLE")
    with pytest.raises(ValueError, match="pip install nkeys"):
        NatsCredentials(nkey_seed_file=str(seed)).connect_options()


def test_a_missing_seed_file_is_named_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(caio_integration.natsauth, "_nkeys_installed", lambda: True)
    missing = tmp_path / "nope.nk"
    with pytest.raises(ValueError, match=r"CAIO_NATS_NKEY_SEED: no such file: .*nope\.nk"):
        NatsCredentials(nkey_seed_file=str(missing)).connect_options()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"user": "u", "password": "p", "token": "t"}, "not user/password and token"),
        ({"token": "t", "creds_file": "c"}, "not token and creds file"),
        ({"nkey_seed_file": "s", "creds_file": "c"}, "not nkey seed and creds file"),
        ({"user": "u"}, "go together"),
        ({"password": "p"}, "go together"),
        ({"tls_cert_file": "c"}, "needs its key"),
        ({"tls_key_file": "k"}, "needs its key"),
        ({"tls_hostname": "nats.internal"}, "no TLS file"),
        ({"user": "u", "password": ""}, "password is empty"),
        ({"inbox_prefix": "_INBOX.>"}, "plain subject"),
        ({"inbox_prefix": "_INBOX_alice."}, "plain subject"),
        ({"inbox_prefix": "my inbox"}, "plain subject"),
    ],
)
def test_contradictory_or_incomplete_settings_are_refused(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        NatsCredentials(**settings)


def test_contradictory_environment_is_refused_when_read() -> None:
    env = {"CAIO_NATS_TOKEN": "t", "CAIO_NATS_USER": "u", "CAIO_NATS_PASSWORD": "p"}
    with pytest.raises(ValueError, match="choose one way"):
        NatsCredentials.from_env(env)


def test_repr_and_str_hide_the_password_and_the_token() -> None:
    with_password = NatsCredentials(user="caio-router", password="hunter2-password")
    with_token = NatsCredentials(token="tok-0123456789")
    for text in (repr(with_password), str(with_password), repr(with_token)):
        assert "hunter2-password" not in text
        assert "tok-0123456789" not in text
        assert "<hidden>" in text
    assert "caio-router" in repr(with_password)


def test_a_missing_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    creds = NatsCredentials(tls_ca_file=str(tmp_path / "ca.pem"))
    with pytest.raises(ValueError, match="CAIO_NATS_TLS_CA: no such file"):
        creds.connect_options()


def test_a_certificate_that_is_not_one_is_a_clear_error(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    key = tmp_path / "client-key.pem"
    cert.write_text("not a certificate")
    key.write_text("not a key")
    creds = NatsCredentials(tls_cert_file=str(cert), tls_key_file=str(key))
    with pytest.raises(ValueError, match="not a certificate and its matching key"):
        creds.connect_options()


def _openssl(*args: str) -> None:
    binary = shutil.which("openssl")
    assert binary is not None
    subprocess.run([binary, *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def test_pki(tmp_path: Path) -> dict[str, Path]:
    """A throwaway CA and a client certificate it signed, made with the openssl CLI.

    The ``cryptography`` package is not a dependency of CAIO and is not
    installed here, so certificates come from the openssl binary if present.
    """
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl CLI to make test certificates (cryptography not installed)")
    ca_key, ca, key, csr, cert = (
        tmp_path / name for name in ("ca-key.pem", "ca.pem", "key.pem", "req.csr", "cert.pem")
    )
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=caio-test-ca", "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=caio-router",
             "-keyout", str(key), "-out", str(csr))  # fmt: skip
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "1", "-out", str(cert))  # fmt: skip
    return {"ca": ca, "ca_key": ca_key, "cert": cert, "key": key}


def test_tls_files_become_a_verifying_context_with_the_client_certificate(
    test_pki: dict[str, Path],
) -> None:
    env = {
        "CAIO_NATS_TLS_CA": str(test_pki["ca"]),
        "CAIO_NATS_TLS_CERT": str(test_pki["cert"]),
        "CAIO_NATS_TLS_KEY": str(test_pki["key"]),
        "CAIO_NATS_TLS_HOSTNAME": "nats.internal",
    }
    options = NatsCredentials.from_env(env).connect_options()
    context = options["tls"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert [ca["subject"] for ca in context.get_ca_certs()] == [
        ((("commonName", "caio-test-ca"),),)
    ]
    assert options["tls_hostname"] == "nats.internal"


def test_a_key_that_does_not_match_the_certificate_is_refused(
    test_pki: dict[str, Path],
) -> None:
    creds = NatsCredentials(
        tls_cert_file=str(test_pki["cert"]), tls_key_file=str(test_pki["ca_key"])
    )
    with pytest.raises(ValueError, match="not a certificate and its matching key"):
        creds.connect_options()
