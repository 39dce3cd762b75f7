"""docker-compose.yml and what it relies on, checked without a Docker engine: the file is
valid (docker-compose v1's validator), secure by default, starts in a healthy order within
the RAM budget, and every secret it reads is one that init-secrets generates."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from setup import compose as compose_helper
from setup.project import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ONE_SHOT = {name for name, spec in SERVICES.items() if spec.get("restart") == "no"}
LONG_RUNNING = set(SERVICES) - ONE_SHOT
DESIGN_PORTS = {9200: "Elasticsearch", 5601: "Kibana", 8000: "service", 8001: "orders"}
LOCUST_PORT = 8089
GIB = 1024**3
MIB = 1024**2
SERVICE_IMAGE = "trackstack-service:local"


def memory_bytes(limit: str) -> int:
    parsed = re.fullmatch(r"(\d+)([kmg]?)b?", str(limit).lower())
    assert parsed, limit
    number, unit = parsed.groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def depends_on(name: str) -> dict[str, str]:
    """{dependency: condition} of one service."""
    return {dep: spec["condition"] for dep, spec in SERVICES[name].get("depends_on", {}).items()}


def all_dependencies(name: str) -> set[str]:
    found: set[str] = set()
    for dep in depends_on(name):
        found |= {dep} | all_dependencies(dep)
    return found


def shell_scripts(spec: dict[str, Any]) -> list[str]:
    """The shell code a service runs: `bash -c` commands and CMD-SHELL healthchecks, with
    compose's `$$` escape turned into the `$` the container sees."""
    scripts = []
    command = spec.get("command")
    if isinstance(command, list) and command[:2] == ["bash", "-c"]:
        scripts.append(command[2])
    test = spec.get("healthcheck", {}).get("test", [])
    if test[:1] == ["CMD-SHELL"]:
        scripts.append(test[1])
    return [script.replace("$$", "$") for script in scripts]


def bind_mounts(spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(source, target, options) of the service's bind mounts (named volumes left out)."""
    mounts = []
    for volume in spec.get("volumes", []):
        # The source may be a ${VAR:-default} with a colon of its own.
        parsed = re.fullmatch(r"(\$\{[^}]*\}|[^:]+):([^:]+)(?::([\w,]+))?", volume)
        assert parsed, volume
        source, target, options = parsed.groups()
        if source.startswith(("./", "/", "${")):
            mounts.append((source, target, options or ""))
    return mounts


@pytest.fixture(scope="module")
def generated_secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A secrets directory as init-secrets leaves it on a fresh clone."""
    secrets_dir = tmp_path_factory.mktemp("compose") / "secrets"
    result = run_init_secrets(secrets_dir)
    assert result.returncode == 0, result.stderr
    return secrets_dir


def run_init_secrets(secrets_dir: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"SECRETS_DIR": str(secrets_dir), "PYTHON": sys.executable}
    return subprocess.run(
        ["bash", str(REPO / "setup" / "init-secrets.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- the file as a whole ----------------------------------------------------------------------


def test_docker_compose_validates_the_file() -> None:
    """`docker-compose config -q` (Debian's v1.29, make install-compose-validator) accepts it."""
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose missing: make install-compose-validator (apt-get, as root)"
    result = subprocess.run(
        [binary, "-f", "docker-compose.yml", "config", "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_services_are_the_stack() -> None:
    """The long-running services and one-shot steps are the ones `make up` waits for."""
    assert LONG_RUNNING == {"elasticsearch", "kibana", "filebeat", "service", "orders", "loadgen"}
    assert ONE_SHOT == {"init-secrets", "setup", "kibana-setup"}
    assert set(compose_helper.ONE_SHOT) == ONE_SHOT
    # loadgen only runs with --profile load; make up waits for all the others.
    assert set(compose_helper.LONG_RUNNING) == LONG_RUNNING - {"loadgen"}
    assert SERVICES["loadgen"]["profiles"] == ["load"]


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_long_running_service_has_a_healthcheck(name: str) -> None:
    """Every long-running service says when it is healthy, so dependants can wait for it."""
    check = SERVICES[name]["healthcheck"]
    assert check["test"][0] in {"CMD", "CMD-SHELL"} and len(check["test"]) > 1
    assert not check.get("disable")
    assert {"interval", "timeout", "retries"} <= set(check)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_dependencies_wait_for_health_or_success(name: str) -> None:
    """A long-running dependency must be healthy, a one-shot one must have exited 0."""
    for dep, condition in depends_on(name).items():
        expected = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
        assert condition == expected, f"{name} -> {dep}"


@pytest.mark.parametrize("name", sorted(set(SERVICES) - {"init-secrets"}))
def test_secrets_exist_before_anyone_reads_them(name: str) -> None:
    """Every service that reads .secrets/ starts after init-secrets has generated them."""
    if any(target == "/secrets" for _, target, _ in bind_mounts(SERVICES[name])):
        assert "init-secrets" in all_dependencies(name)


def test_start_order_matches_the_setup_steps() -> None:
    """setup after a healthy Elasticsearch; Kibana and Filebeat after setup (kibana_system's
    password, the template, the Filebeat user); kibana-setup after a healthy Kibana."""
    assert depends_on("setup") == {"elasticsearch": "service_healthy"}
    assert depends_on("kibana")["setup"] == "service_completed_successfully"
    assert depends_on("filebeat")["setup"] == "service_completed_successfully"
    assert depends_on("kibana-setup") == {"kibana": "service_healthy"}
    assert SERVICES["service"]["environment"]["DOWNSTREAM_URL"] == "http://orders:8000"
    names = {SERVICES[s]["environment"]["SERVICE_NAME"] for s in ("service", "orders")}
    assert names == {"trackstack-service", "trackstack-orders"}


# --- secure by default ------------------------------------------------------------------------


def test_elastic_images_use_the_one_version() -> None:
    """Elastic images are tagged ${ELASTIC_VERSION} (set once in .env); the rest are built."""
    assert re.search(r"^ELASTIC_VERSION=\d+\.\d+\.\d+$", (REPO / ".env").read_text(), re.M)
    for name, spec in SERVICES.items():
        image = spec["image"]
        if image.startswith("docker.elastic.co/"):
            assert image.endswith(":${ELASTIC_VERSION}"), name
        else:
            assert image == SERVICE_IMAGE, name


def test_every_port_is_published_on_localhost_only() -> None:
    """host ports: 127.0.0.1 only, and exactly the ports docs/DESIGN.md lists."""
    published = {}
    for name, spec in SERVICES.items():
        for port in spec.get("ports", []):
            host_ip, host_port, _ = str(port).split(":")
            assert host_ip == "127.0.0.1", f"{name}: {port}"
            published[int(host_port)] = name
    assert published == {9200: "elasticsearch", 5601: "kibana", 8000: "service"} | {
        8001: "orders",
        LOCUST_PORT: "loadgen",
    }
    assert set(compose_helper.PORTS) == set(DESIGN_PORTS) | {LOCUST_PORT}


def test_no_secret_in_the_environment() -> None:
    """Passwords and keys reach containers only through the mounted .secrets/ files."""
    for name, spec in SERVICES.items():
        for key in spec.get("environment", {}):
            assert not re.search(r"PASSWORD|PASSWD|SECRET(?!S_DIR)|TOKEN|_KEY", key), (name, key)


def config_files() -> list[Path]:
    """The repository's config files (tracked or new, not ignored), tests and lock left out."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    pattern = re.compile(r"\.(ya?ml|json|ndjson|env|mk|toml|sh)$|(^|/)(Makefile|Dockerfile)$")
    return [
        REPO / path
        for path in listed
        if pattern.search(path) and not path.startswith("tests/") and (REPO / path).is_file()
    ]


def test_no_changeme_or_fixed_password_in_config() -> None:
    """No default password anywhere: every password or key setting refers to a variable."""
    files = config_files()
    assert REPO / "docker-compose.yml" in files and REPO / "kibana" / "kibana.yml" in files
    setting = re.compile(
        r"(?i)([\w.]*(?:password|passwd|encryptionkey|token|api_?key))(?:=|:[ \t]*)"
        r"[\"']?([^\s\"',;)]*)"
    )
    for path in files:
        text = path.read_text()
        assert "changeme" not in text.lower(), path
        if path.suffix == ".sh":
            continue  # scripts handle secrets in code; their settings live in config files
        for key, value in setting.findall(text):
            assert value in {"", "..."} or value.startswith("$"), f"{path}: {key}={value}"


def test_config_mounts_are_read_only_and_exist() -> None:
    """Bind-mounted config is read-only and exists in the checkout. Writable: .secrets/ for
    init-secrets, runs/ (run folders, made on first start) for init-secrets and loadgen."""
    writable = {("init-secrets", "./.secrets"), ("init-secrets", "./runs"), ("loadgen", "./runs")}
    for name, spec in SERVICES.items():
        for source, target, options in bind_mounts(spec):
            if (name, source) in writable:
                continue
            assert options == "ro", f"{name}: {source}:{target}"
            if source.startswith("./") and source != "./.secrets":
                assert (REPO / source).exists(), f"{name}: {source}"


def test_filebeat_reads_container_logs_read_only_as_least_privileged_user() -> None:
    """Filebeat mounts Docker's container logs read-only and ships as trackstack_filebeat."""
    filebeat = SERVICES["filebeat"]
    sources = {target: (source, options) for source, target, options in bind_mounts(filebeat)}
    assert sources["/var/lib/docker/containers"][1] == "ro"
    assert ". /secrets/trackstack_filebeat.env" in filebeat["command"][2]
    assert "--strict.perms=false" in filebeat["command"][2]
    assert filebeat["environment"]["TRACKSTACK_MODE"] == "compose"
    user = json.loads((REPO / "elasticsearch" / "users" / "trackstack_filebeat.json").read_text())
    assert user["roles"] == ["trackstack_filebeat_writer"]


# --- resources --------------------------------------------------------------------------------


# Peak memory measured here of what each container runs (MiB, whole process tree), natively
# on the same code and versions; the README's RAM budget gives the commands. A limit must
# leave at least HEADROOM x the peak: page cache of written files counts in a container's
# memory too, and a first start or a burst of load does more than the measurement did.
MEASURED_PEAK_MIB = {
    "init-secrets": 51,  # /usr/bin/time -v bash setup/init-secrets.sh: max RSS
    "setup": 40,  # /usr/bin/time -v python -m setup (against Elasticsearch): max RSS
    "kibana-setup": 40,  # not run here (no Kibana); the same script and imports as setup
    "service": 121,  # gunicorn master + 2 gevent workers under `loadgen load` (tree RSS)
    "orders": 203,  # uvicorn manager + 2 workers (python -m orders), tree RSS under requests
    "filebeat": 140,  # compose mode holding a 25,000-line backlog, ES down (its own rss metric)
    "loadgen": 115,  # python -m loadgen load --rate 100 (tree RSS, Locust included)
}
HEADROOM = 1.25


def limits_mib() -> dict[str, int]:
    return {name: memory_bytes(spec["mem_limit"]) // MIB for name, spec in SERVICES.items()}


@pytest.mark.parametrize("name", sorted(MEASURED_PEAK_MIB))
def test_memory_limit_has_measured_headroom(name: str) -> None:
    """Each limit is at least HEADROOM x the peak measured for that container's processes."""
    assert limits_mib()[name] >= HEADROOM * MEASURED_PEAK_MIB[name], limits_mib()[name]


def test_memory_limits_fit_the_documented_budget() -> None:
    """Every service has a memory limit. At most, everything long-running plus the largest
    one-shot step runs at once; that peak is the figure compose file and README state, and
    leaves the engine 512 MiB of what `make doctor` asks for."""
    limits = limits_mib()
    peak = sum(limits[n] for n in LONG_RUNNING) + max(limits[n] for n in ONE_SHOT)
    assert peak * MIB + 512 * MIB <= compose_helper.MEMORY_NEEDED
    stated = f"{peak} MiB"
    assert stated in (REPO / "docker-compose.yml").read_text()
    assert stated in (REPO / "README.md").read_text()
    heap = re.search(r"-Xmx(\d+)m", SERVICES["elasticsearch"]["environment"]["ES_JAVA_OPTS"])
    assert heap and int(heap.group(1)) * 2 <= limits["elasticsearch"]
    # Kibana needs more than 1 GiB during its first saved-object migrations.
    assert limits["kibana"] > 1024


def test_one_service_builds_the_service_image() -> None:
    """Only init-secrets builds trackstack-service:local (several builders of one tag can fail
    a first start); the others use it, never pull it, and start after init-secrets."""
    builders = [name for name, spec in SERVICES.items() if "build" in spec]
    assert builders == ["init-secrets"]
    assert SERVICES["init-secrets"]["image"] == SERVICE_IMAGE
    assert SERVICES["init-secrets"]["build"]["dockerfile"] == "service/Dockerfile"
    users = [n for n, spec in SERVICES.items() if spec["image"] == SERVICE_IMAGE]
    assert set(users) >= {"setup", "kibana-setup", "orders", "service", "loadgen"}
    for name in set(users) - {"init-secrets"}:
        assert SERVICES[name]["pull_policy"] == "never", name
        assert "init-secrets" in all_dependencies(name), name


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_restart_policy(name: str) -> None:
    """Long-running services come back after a crash (unless stopped); loadgen after a
    failure only; one-shot steps never run twice by themselves."""
    expected = "no" if name in ONE_SHOT else "unless-stopped"
    if name == "loadgen":
        expected = "on-failure"
    assert SERVICES[name].get("restart") == expected


@pytest.mark.parametrize("name", ["service"])
def test_gunicorn_control_socket_is_off(name: str) -> None:
    """The image's user has no home for gunicorn's control socket: the command switches it
    off with a flag the installed gunicorn knows."""
    from gunicorn.config import Config

    command = SERVICES[name]["command"][2]
    assert "exec python -m service --no-control-socket" in command
    config = Config()
    args = config.parser().parse_args(["--no-control-socket"])
    config.set("control_socket_disable", args.control_socket_disable)
    assert config.control_socket_disable is True


def test_load_runs_land_on_the_host() -> None:
    """The compose load generator writes its run folders to the checkout's runs/ (so make
    verify / make trace see them), and init-secrets makes that folder writable for it."""
    loadgen = SERVICES["loadgen"]
    runs_dir = loadgen["environment"]["RUNS_DIR"]
    assert ("./runs", runs_dir, "") in bind_mounts(loadgen)
    init = SERVICES["init-secrets"]
    assert ("./runs", init["environment"]["RUNS_DIR"], "") in bind_mounts(init)
    assert "RUNS_DIR" in (REPO / "setup" / "init-secrets.sh").read_text()


def test_init_secrets_makes_runs_writable_for_group_0(tmp_path: Path) -> None:
    """runs/ gets mode 2775: the loadgen container (uid 10001, group 0) may write there."""
    env = os.environ | {
        "SECRETS_DIR": str(tmp_path / "secrets"),
        "RUNS_DIR": str(tmp_path / "runs"),
        "PYTHON": sys.executable,
    }
    result = subprocess.run(
        ["bash", str(REPO / "setup" / "init-secrets.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((tmp_path / "runs").stat().st_mode) == 0o2775


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_logs_are_rotated_json_files(name: str) -> None:
    """Filebeat reads Docker's json-file logs; each service's are capped in size and count."""
    logging = SERVICES[name]["logging"]
    assert logging["driver"] == "json-file"
    assert re.fullmatch(r"\d+[km]", logging["options"]["max-size"])
    assert int(logging["options"]["max-file"]) >= 2


# --- secrets: generated, private, and what the services expect --------------------------------


def test_init_secrets_generates_private_files(generated_secrets: Path) -> None:
    """On a fresh clone: every secret file, readable by owner and group only."""
    assert {p.name for p in generated_secrets.iterdir()} == {
        "elastic.env",
        "kibana_system.env",
        "trackstack_filebeat.env",
        "trackstack_reader.env",
        "kibana.env",
        "service.env",
    }
    assert stat.S_IMODE(generated_secrets.stat().st_mode) == 0o750
    for path in generated_secrets.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path.name
        if os.geteuid() == 0:  # only root may hand a file to group 0
            assert path.stat().st_gid == 0, path.name


def test_init_secrets_is_idempotent(tmp_path: Path) -> None:
    """A second start keeps every secret as it was (no password changes behind a running ES)."""
    secrets_dir = tmp_path / "secrets"
    assert run_init_secrets(secrets_dir).returncode == 0
    before = {p.name: p.read_bytes() for p in secrets_dir.iterdir()}
    second = run_init_secrets(secrets_dir)
    assert second.returncode == 0, second.stderr
    assert {p.name: p.read_bytes() for p in secrets_dir.iterdir()} == before


def test_every_secret_file_the_stack_reads_is_generated(generated_secrets: Path) -> None:
    """Each /secrets/<file> a command or healthcheck sources is one init-secrets makes."""
    generated = {p.name for p in generated_secrets.iterdir()}
    for name, spec in SERVICES.items():
        for script in shell_scripts(spec):
            for needed in re.findall(r"/secrets/([\w.-]+)", script):
                assert needed in generated, f"{name} reads {needed}"


def env_keys(secrets_dir: Path, *files: str) -> set[str]:
    keys = set()
    for name in files:
        keys |= {line.split("=", 1)[0] for line in (secrets_dir / name).read_text().splitlines()}
    return keys


def test_kibana_gets_every_variable_its_config_needs(generated_secrets: Path) -> None:
    """kibana.yml's ${VAR}s (Kibana refuses to start on a missing one) all come from the files
    the kibana command sources, and it connects as kibana_system."""
    command = SERVICES["kibana"]["command"][2]
    sourced = re.findall(r"\. /secrets/([\w.-]+)", command)
    needed = set(re.findall(r"\$\{(\w+)\}", (REPO / "kibana" / "kibana.yml").read_text()))
    assert needed and needed <= env_keys(generated_secrets, *sourced)
    kibana_user = (generated_secrets / "kibana_system.env").read_text()
    assert "ES_USERNAME=kibana_system\n" in kibana_user


def test_filebeat_gets_its_credentials(generated_secrets: Path) -> None:
    """filebeat.yml's ES_USERNAME/ES_PASSWORD come from trackstack_filebeat.env."""
    needed = set(
        re.findall(r"\$\{(ES_\w+?)(?::[^}]*)?\}", (REPO / "filebeat" / "filebeat.yml").read_text())
    )
    assert {"ES_USERNAME", "ES_PASSWORD"} <= needed
    assert needed - {"ES_HOSTS"} <= env_keys(generated_secrets, "trackstack_filebeat.env")


# --- shell code and helpers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "script"),
    [(name, script) for name, spec in SERVICES.items() for script in shell_scripts(spec)],
)
def test_shell_snippets_parse(name: str, script: str) -> None:
    """The bash commands and healthchecks in the compose file are valid shell."""
    result = subprocess.run(
        ["bash", "-n", "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{name}: {result.stderr}"


def test_doctor_fails_clearly_without_an_engine() -> None:
    """make doctor exits non-zero and says the engine is the problem when it is unreachable."""
    env = os.environ | {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = subprocess.run(
        [sys.executable, "-m", "setup.compose", "doctor"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert re.search(r"FAIL\s+docker engine", result.stdout), result.stdout


@pytest.mark.parametrize(
    ("used_share", "free_gib", "level"),
    [
        pytest.param(0.96, 40, "fail", id="flood-stage"),
        pytest.param(0.91, 90, "warn", id="high-watermark"),
        pytest.param(0.50, 2, "warn", id="no-room-for-images"),
        pytest.param(0.50, 50, "ok", id="plenty"),
    ],
)
def test_disk_check_uses_elasticsearchs_watermarks(
    used_share: float, free_gib: int, level: str
) -> None:
    """95 % used fails (indices go read-only), 90 % warns (no new daily index)."""
    total = 1000 * GIB
    used = int(total * used_share)
    assert compose_helper.disk_level(used, total, free_gib * GIB)[0] == level


@pytest.mark.parametrize(
    ("state", "one_shot", "expected"),
    [
        pytest.param(None, False, "not created", id="not-created"),
        pytest.param(
            {"Status": "running", "Health": {"Status": "starting"}},
            False,
            "running, starting",
            id="starting",
        ),
        pytest.param(
            {"Status": "running", "Health": {"Status": "healthy"}}, False, None, id="healthy"
        ),
        pytest.param({"Status": "running", "ExitCode": 0}, True, "running", id="setup-running"),
        pytest.param({"Status": "exited", "ExitCode": 0}, True, None, id="setup-done"),
        pytest.param({"Status": "exited", "ExitCode": 1}, True, "fails", id="setup-failed"),
        pytest.param({"Status": "exited", "ExitCode": 137}, False, "fails", id="service-died"),
    ],
)
def test_wait_tells_ready_from_pending_from_failed(
    monkeypatch: pytest.MonkeyPatch, state: dict[str, Any] | None, one_shot: bool, expected: str
) -> None:
    """make up waits for healthy services and one-shots that exited 0, and stops at once,
    naming the service, when one exits otherwise."""
    monkeypatch.setattr(compose_helper, "container_state", lambda service: state)
    if expected == "fails":
        with pytest.raises(compose_helper.ServiceFailed, match="setup exited with code"):
            compose_helper.pending("setup", one_shot)
    else:
        assert compose_helper.pending("setup", one_shot) == expected


def test_readme_walks_through_compose() -> None:
    """The README's compose section sits before Troubleshooting and covers the essentials."""
    readme = (REPO / "README.md").read_text()
    start = readme.index("## Run it with Docker compose")
    assert start < readme.index("## Troubleshooting")
    section = readme[start : readme.index("\n## ", start + 1)]
    for needed in ('tracking_id:"', "docker compose up", ".secrets/", "make kibana ID="):
        assert needed in section, needed
