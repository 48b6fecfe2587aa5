"""The deployment files in deploy/ work as shipped: nginx with TLS in front of a real `scr-bot run`, and the
systemd units for the web and clock processes.

nginx runs the repository's own deploy/nginx/scr-bot.conf; the test changes only what a real host would
(the listen ports, moved to free loopback ports, the certificate paths, to a self-signed certificate made
here with openssl, and the bot's port), each replacement checked to happen exactly once, so the file under
test is the file the README tells people to copy. Requests go over verified TLS to https://127.0.0.1:<port>,
signed exactly as Slack signs them.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.ops.cli import build_parser
from conftest import (
    ROOT,
    BotProcess,
    RedisServer,
    bot_env,
    command_body,
    free_port,
    sign,
    start_bot,
    stop_bot,
    wait_for,
)
from fakeslack import FakeSlack

NGINX_CONF = ROOT / "deploy" / "nginx" / "scr-bot.conf"
UNITS = ROOT / "deploy" / "systemd"


def _nginx() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


@dataclass
class Proxy:
    https: str
    http: str
    context: ssl.SSLContext


def _replace_once(text: str, old: str, new: str) -> str:
    """A real host's edit; fails when the shipped file no longer has exactly one such line."""
    count = text.count(old)
    assert count == 1, f"deploy/nginx/scr-bot.conf has {old!r} {count} times, expected once"
    return text.replace(old, new)


def render(conf: str, *, https_port: int, http_port: int, bot_port: int, cert: Path, key: Path) -> str:
    conf = _replace_once(conf, "listen 80;", f"listen 127.0.0.1:{http_port};")
    conf = _replace_once(conf, "listen [::]:80;\n", "")  # loopback only: the test machine may have no IPv6
    conf = _replace_once(conf, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    conf = _replace_once(conf, "listen [::]:443 ssl http2;\n", "")
    conf = _replace_once(conf, "/etc/letsencrypt/live/scr-bot.example.org/fullchain.pem", str(cert))
    conf = _replace_once(conf, "/etc/letsencrypt/live/scr-bot.example.org/privkey.pem", str(key))
    return _replace_once(conf, "server 127.0.0.1:3000;", f"server 127.0.0.1:{bot_port};")


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)  # fmt: skip
    return cert, key


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {log.read_text(errors='replace')}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on {port}: {log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def proxied_bot(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, BotProcess, FakeSlack]]:
    nginx = _nginx()
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light; .ci/run installs it): "
                    "the TLS reverse-proxy configuration in deploy/nginx/ was NOT tested")  # fmt: skip
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl): no certificate for the proxy test")
    tmp = tmp_path_factory.mktemp("proxy")
    slack = FakeSlack().serve()
    bot_port = free_port()
    bot = start_bot(["run", "--no-scheduler"], bot_env(slack, redis_server.url, tmp), tmp / "bot.log", bot_port)
    cert, key = _self_signed(tmp)
    https_port, http_port = free_port(), free_port()
    (tmp / "scr-bot.conf").write_text(render(NGINX_CONF.read_text(), https_port=https_port, http_port=http_port,
                                             bot_port=bot_port, cert=cert, key=key))  # fmt: skip
    temp_paths = "\n".join(f"  {kind}_temp_path {tmp}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")  # as root, workers would drop to nobody, who cannot enter tmp
        + f"worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log warn;\n"
        f"events {{ worker_connections 64; }}\nhttp {{\n  access_log {tmp}/access.log;\n{temp_paths}\n"
        f"  include {tmp}/scr-bot.conf;\n}}\n"
    )  # fmt: skip
    base = [nginx, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(tmp / "nginx.conf")]
    checked = subprocess.run([*base, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen([*base, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait_listening(https_port, proc, tmp / "error.log")
        yield (Proxy(f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}",
                     ssl.create_default_context(cafile=str(cert))), bot, slack)  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(15)
        stop_bot(bot)
        slack.close()


def _send(proxy: Proxy, method: str, path: str, body: str | None = None,
          headers: dict[str, str] | None = None, base: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    """One request through the proxy, over TLS verified against the test's certificate; redirects not followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=proxy.context), NoRedirect)
    req = urllib.request.Request((base or proxy.https) + path, data=body.encode() if body is not None else None,
                                 method=method, headers=headers or {})  # fmt: skip
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def test_a_slack_signed_command_through_nginx_over_tls_is_answered(proxied_bot) -> None:  # noqa: ANN001
    proxy, _bot, slack = proxied_bot
    url = slack.response_url()
    body = command_body("neglect", response_url=url)
    status, raw, _ = _send(proxy, "POST", "/slack/events", body,
                           {"Content-Type": "application/x-www-form-urlencoded", **sign(body)})  # fmt: skip
    assert status == 200, raw
    answer = json.loads(raw) if raw else wait_for(lambda: next((r for r in slack.responses if r.get("_url") == url), None))
    assert "neglect" in json.dumps(answer).lower()  # the lookup's answer, from the bot behind the proxy


def test_a_forged_request_through_nginx_is_refused_by_the_bot(proxied_bot) -> None:  # noqa: ANN001
    proxy, _bot, _slack = proxied_bot
    body = command_body("neglect")
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, secret="not-the-signing-secret")}
    status, _raw, _ = _send(proxy, "POST", "/slack/events", body, headers)
    assert status == 401


def test_health_over_tls_and_plain_http_redirects(proxied_bot) -> None:  # noqa: ANN001
    proxy, _bot, _slack = proxied_bot
    status, raw, headers = _send(proxy, "GET", "/healthz")
    assert status == 200 and json.loads(raw)["ok"] is True
    assert headers.get("Strict-Transport-Security")
    status, raw, _ = _send(proxy, "GET", "/readyz")  # what a load balancer in front of nginx asks
    assert status == 200 and json.loads(raw)["redis"]["ok"] is True and json.loads(raw)["slack"]["ok"] is True
    status, _raw, headers = _send(proxy, "GET", "/slack/events", base=proxy.http)
    assert status == 301 and headers["Location"].startswith("https://")


# ----- systemd ------------------------------------------------------------------------------
def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string((UNITS / name).read_text())
    return parser


@pytest.mark.parametrize(("name", "command"), [("scr-bot-web.service", ["run", "--no-scheduler"]),
                                               ("scr-bot-clock.service", ["clock"])])  # fmt: skip
def test_systemd_units_run_the_right_command_hardened(name: str, command: list[str]) -> None:
    unit = _unit(name)
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/.venv/bin/scr-bot") and argv[1:] == command
    build_parser().parse_args(argv[1:])  # the CLI accepts it (a typo exits 2)
    assert service["User"] and service["User"] != "root"
    assert service["EnvironmentFile"].startswith("/etc/")
    assert service["WorkingDirectory"] == str(Path(argv[0]).parent.parent.parent)  # content/ and schedules/ are found
    assert service["Restart"] in ("on-failure", "always")
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    assert service["ProtectHome"] in ("yes", "read-only", "tmpfs") and service["PrivateTmp"] == "yes"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd): the units were only parsed")
    # A real host has the venv at WorkingDirectory; here the unit points at this checkout's python instead,
    # so verify can check that ExecStart is an executable file.
    for unit in UNITS.glob("*.service"):
        text = unit.read_text()
        exe = shlex.split(_unit(unit.name)["Service"]["ExecStart"])[0]
        (tmp_path / unit.name).write_text(text.replace(exe, shutil.which("python3") or "/usr/bin/python3"))
    done = subprocess.run([analyze, "verify", *sorted(str(p) for p in tmp_path.glob("*.service"))],
                          capture_output=True, text=True, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})  # fmt: skip
    problems = [line for line in done.stderr.splitlines() if "scr-bot" in line and "redis-server.service" not in line]
    assert done.returncode == 0 and not problems, done.stderr
