"""Settings: defaults.yaml < settings file < BROKER_* environment < explicit overrides."""

from __future__ import annotations

import pytest

from broker.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("BROKER_SETTINGS", "BROKER_DB_URL", "BROKER_TICKS__COLLECT_SECONDS", "BROKER_AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_come_from_config_defaults_yaml():
    settings = load_settings()
    assert settings.local_endpoint_url == "http://127.0.0.1:8765"
    assert settings.production_endpoint_url == "https://mturk-requester.us-east-1.amazonaws.com"
    assert settings.sandbox_endpoint_url == "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
    assert settings.local_secret_access_key.get_secret_value() == "local-marketplace-secret"
    assert settings.ticks.collect_seconds == 30
    assert settings.endpoint_for("sandbox") == settings.sandbox_endpoint_url
    assert settings.endpoint_for("http://127.0.0.1:9999/") == "http://127.0.0.1:9999"
    assert settings.worker_site_url == "http://127.0.0.1:8765"


def test_settings_file_overrides_defaults_and_env_overrides_file(write_file, monkeypatch):
    path = write_file(
        "settings.yaml",
        """\
        db_url: sqlite:///from-file.db
        aws_profile: requester
        ticks:
          collect_seconds: 5
    """,
    )
    settings = load_settings(path)
    assert settings.db_url == "sqlite:///from-file.db"
    assert settings.aws_profile == "requester"
    assert settings.ticks.collect_seconds == 5
    assert settings.ticks.publish_seconds == 10  # deep-merged with the defaults
    monkeypatch.setenv("BROKER_DB_URL", "postgresql://db/broker")
    monkeypatch.setenv("BROKER_TICKS__COLLECT_SECONDS", "2")
    settings = load_settings(path)
    assert settings.db_url == "postgresql://db/broker"
    assert settings.ticks.collect_seconds == 2
    assert load_settings(path, db_url="sqlite://").db_url == "sqlite://"


def test_settings_file_from_environment(write_file, monkeypatch):
    path = write_file("settings.yaml", "db_url: sqlite:///env-file.db\n")
    monkeypatch.setenv("BROKER_SETTINGS", str(path))
    assert load_settings().db_url == "sqlite:///env-file.db"


def test_unknown_key_names_file_and_line(write_file):
    path = write_file("settings.yaml", "db_url: sqlite://\ntiks:\n  collect_seconds: 5\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    (issue,) = caught.value.issues
    assert (issue.file, issue.line, issue.field, issue.message) == (str(path), 2, "tiks", "unknown setting")


def test_bad_value_names_file_line_or_variable(write_file, monkeypatch):
    path = write_file("settings.yaml", "ticks:\n  collect_seconds: -1\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    (issue,) = caught.value.issues
    assert (issue.file, issue.line, issue.field) == (str(path), 2, "ticks.collect_seconds")
    monkeypatch.setenv("BROKER_TICKS__COLLECT_SECONDS", "soon")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.issues[0].file == "environment BROKER_TICKS__COLLECT_SECONDS"


def test_missing_settings_file_is_an_error(tmp_path):
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path / "nope.yaml")
    assert "settings file not found" in str(caught.value)
