"""docker-compose.yml parses and follows Pattern's conventions (no engine runs here)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_file_parses_and_mounts_init_scripts():
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    db = spec["services"]["db"]
    assert db["image"] == "postgres:16"
    assert "./db/init:/docker-entrypoint-initdb.d:ro" in db["volumes"]
    assert "5432:5432" in db["ports"]
    assert db["environment"] == {"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "password"}
    dash = spec["services"]["dashboard"]
    assert dash["environment"]["DATABASE_URL"].startswith("postgresql://postgres:password@db:5432/")
    assert dash["depends_on"]["db"]["condition"] == "service_healthy"
    assert (ROOT / "Dockerfile").exists()
