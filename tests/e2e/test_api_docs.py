"""docs/api.md and docs/openapi.yaml against the daemon: every example in
api.md (a ```console block: `$ curl -si …`, then the answer) is run with
curl against a real vitalsd in the state the page describes, and the answer
must have the documented status, headers and body — JSON by its fields and
their types, text line by line — and fit openapi.yaml's schema. Also what
configuration.md and alerts.md promise about reloads and `incidents --json`."""

import http.server
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import tempfile
import textwrap
import threading
import time
import unittest

import yaml

from vitals_harness import VITALSD, Daemon, free_port, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("VITALS_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
API_MD = os.path.join(SOURCE_DIR, "docs", "api.md")
OPENAPI = os.path.join(SOURCE_DIR, "docs", "openapi.yaml")
DOC_ADDRESS = "localhost:9273"  # where the examples send their requests
# bcrypt (cost 10) of a password no example sends: the daemon needs a user to ask for credentials.
SOME_HASH = "$2b$10$REye3vRm/idG8BznlOafV.UW0AsW7dhzLfVviIcONSMSPaxZy4GJm"


# --- what "the documented shape" means ---------------------------------------

RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
# Objects whose keys depend on the probe kind: string to string, any keys.
FREE_MAPS = ("last.evidence", "evidence.evidence")


def shape_problems(doc, got, path):
    """How `got` differs from the documented value `doc`. Strings are compared
    exactly unless they change from run to run: a time is checked by its
    format, one with a digit or a URL (ports, counts, addresses) by type.
    A list must hold an element like each documented one and nothing else."""
    if isinstance(doc, dict):
        if not isinstance(got, dict):
            return [f"{path}: expected an object, got {got!r}"]
        if path.endswith(FREE_MAPS):
            return [f"{path}.{k}: expected a string" for k, v in got.items() if not isinstance(v, str)]
        problems = [f"{path}: no field {k!r}" for k in doc if k not in got]
        problems += [f"{path}: undocumented field {k!r}" for k in got if k not in doc]
        for k in doc.keys() & got.keys():
            problems += shape_problems(doc[k], got[k], f"{path}.{k}")
        return problems
    if isinstance(doc, list):
        if not isinstance(got, list):
            return [f"{path}: expected a list, got {got!r}"]
        if not doc:
            return [] if not got else [f"{path}: expected an empty list"]
        problems = [f"{path}[{i}]: like no documented element: {shape_problems(doc[0], g, path)}"
                    for i, g in enumerate(got) if all(shape_problems(d, g, path) for d in doc)]
        problems += [f"{path}: nothing like documented element {i}" for i, d in enumerate(doc)
                     if all(shape_problems(d, g, path) for g in got)]
        return problems
    if doc is None or isinstance(doc, bool):
        return [] if type(got) is type(doc) else [f"{path}: expected {type(doc).__name__}, got {got!r}"]
    if isinstance(doc, (int, float)):
        return [] if type(got) is type(doc) else [f"{path}: expected {type(doc).__name__}, got {got!r}"]
    if not isinstance(got, str):
        return [f"{path}: expected a string, got {got!r}"]
    if RFC3339.fullmatch(doc):
        return [] if RFC3339.fullmatch(got) else [f"{path}: expected an RFC 3339 time, got {got!r}"]
    if re.search(r"\d|://", doc) or doc == got:
        return []
    return [f"{path}: expected {doc!r}, got {got!r}"]


def text_pattern(doc_body):
    """A documented text body as a regex: `…` stands for anything (a line of
    only `…` for any lines), a number for any number."""
    pieces = []
    for line in doc_body.split("\n")[:-1]:
        if line == "…":
            pieces.append(r"(?:.*\n)?")
            continue
        escaped = re.escape(line).replace("…", ".*?")
        pieces.append(re.sub(r"\d+(?:\\\.\d+)?", lambda m: r"(?:[-+0-9.eE]+|NaN|\+Inf)", escaped) + r"\n")
    return re.compile("".join(pieces), re.S)


def example_problems(example, status_line, headers, body):
    problems = [] if status_line == example.status else [f"status {status_line!r}, not {example.status!r}"]
    for name, value in example.headers:
        if headers.get(name.lower()) != value:
            problems.append(f"header {name}: {headers.get(name.lower())!r}, not {value!r}")
    if dict(example.headers).get("Content-Type", "").startswith("application/json"):
        problems += shape_problems(json.loads(example.body), json.loads(body), "$")
    elif not text_pattern(example.body).fullmatch(body if body.endswith("\n") else body + "\n"):
        problems.append(f"body {body[:300]!r} does not match the documented one")
    return problems


def schema_problems(spec, schema, value, path):
    """`value` against an OpenAPI 3.0 schema: $ref, allOf, nullable, type,
    enum, format date-time, minimum, properties, required, additionalProperties, items."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if value is None:
        return [] if schema.get("nullable") else [f"{path}: null is not allowed"]
    problems = []
    for part in schema.get("allOf", []):
        problems += schema_problems(spec, part, value, path)
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int, "number": (int, float)}
    kind = schema.get("type")
    if kind and (not isinstance(value, types[kind]) or (isinstance(value, bool) and kind != "boolean")):
        return problems + [f"{path}: expected {kind}, got {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if schema.get("format") == "date-time" and not RFC3339.fullmatch(value):
        problems.append(f"{path}: {value!r} is not an RFC 3339 time")
    if "minimum" in schema and value < schema["minimum"]:
        problems.append(f"{path}: {value!r} is below {schema['minimum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        problems += [f"{path}: no {k!r}" for k in schema.get("required", []) if k not in value]
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            if k in properties:
                problems += schema_problems(spec, properties[k], v, f"{path}.{k}")
            elif extra is False:
                problems.append(f"{path}: {k!r} is not in the schema")
            elif isinstance(extra, dict):
                problems += schema_problems(spec, extra, v, f"{path}.{k}")
    if isinstance(value, list):
        for i, item in enumerate(value):
            problems += schema_problems(spec, schema.get("items", {}), item, f"{path}[{i}]")
    return problems


class Example:
    def __init__(self, line, daemon, command, status, headers, body):
        self.line, self.daemon, self.command = line, daemon, command
        self.status, self.headers, self.body = status, headers, body

    def __str__(self):
        return f"api.md:{self.line} ({self.daemon}): {self.command}"

    def request(self):
        """(method, path) of its curl command."""
        method = re.search(r"-X (\w+)", self.command)
        url = shlex.split(self.command)[-1].split("?")[0]
        return (method.group(1) if method else "GET"), url[url.index("/"):]


def examples(path=API_MD):
    """Every ```console block of api.md that starts with `$ curl`."""
    with open(path) as f:
        lines = f.read().split("\n")
    found = []
    for i, line in enumerate(lines):
        if line != "```console" or not lines[i + 1].startswith("$ curl "):
            continue
        end = lines.index("```", i + 1)
        block = lines[i + 2:end]
        blank = block.index("")
        marker = re.match(r"<!-- example daemon: ([\w-]+) -->$", lines[i - 1])
        headers = [tuple(h.split(": ", 1)) for h in block[1:blank]]
        found.append(Example(i + 1, marker.group(1) if marker else "default", lines[i + 1][2:], block[0], headers,
                             "\n".join(block[blank + 1:]) + "\n"))
    return found


def run_curl(command, port):
    args = [a.replace(DOC_ADDRESS, f"localhost:{port}") for a in shlex.split(command)]
    done = subprocess.run(args + ["--max-time", "10"], capture_output=True, check=True)
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    head_lines = head.decode().split("\r\n")
    headers = {}
    for h in head_lines[1:]:
        name, _, value = h.partition(": ")
        headers[name.lower()] = value
    return head_lines[0], headers, body.decode()


def openapi_operation(spec, method, path):
    """The operation for a concrete path, matching templated ones (/runbooks/{name})."""
    for template, item in spec["paths"].items():
        if re.fullmatch(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template)), path):
            return template, item.get(method.lower())
    return None, None


class Health(http.server.BaseHTTPRequestHandler):
    """web's health check: 503 until told otherwise."""
    status = 503

    def do_GET(self):
        body = b"maintenance\n" if Health.status == 503 else b"ok\n"
        self.send_response(Health.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def get_json(daemon, path):
    status, body = daemon.get(path)
    assert status == 200, body
    return json.loads(body)


class ApiDocsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.TemporaryDirectory(prefix="vitals-e2e-api-")
        cls.addClassCleanup(cls.work.cleanup)
        cls.daemons = {"default": cls.start_documented_daemon(),
                       "lifecycle-off": cls.start(Daemon("server: {listen: 127.0.0.1:0}\n"))}
        web_config = os.path.join(cls.work.name, "web.yml")
        with open(web_config, "w") as f:
            f.write(f"basic_auth_users:\n  prometheus: '{SOME_HASH}'\n")
        cls.daemons["basic-auth"] = cls.start(Daemon("server: {listen: 127.0.0.1:0}\n",
                                                     extra_args=("--web.config.file", web_config)))
        with open(OPENAPI) as f:
            cls.spec = yaml.safe_load(f)
        cls.answers = [(e, run_curl(e.command, cls.daemons[e.daemon].port)) for e in examples()]

    @classmethod
    def start(cls, daemon):
        cls.addClassCleanup(daemon.stop)
        return daemon

    @classmethod
    def start_documented_daemon(cls):
        """The daemon api.md describes, with short intervals: web's outage is
        incident 1, resolved; api went down after it, incident 2, still open."""
        web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
        threading.Thread(target=web.serve_forever, daemon=True).start()
        cls.addClassCleanup(web.server_close)
        cls.addClassCleanup(web.shutdown)
        api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)  # any server accepts: a port probe connects
        threading.Thread(target=api.serve_forever, daemon=True).start()
        d = cls.start(Daemon(textwrap.dedent(f"""\
            server: {{listen: 127.0.0.1:0, enable_lifecycle: true}}
            defaults: {{interval: 200ms, timeout: 150ms}}
            probes:
              - {{name: api, type: port, port: {api.server_address[1]}}}
              - {{name: web, type: http, url: "http://127.0.0.1:{web.server_address[1]}/health"}}
            alerts:
              evaluation_interval: 100ms
              builtin: {{ProbeDown: {{for: 300ms}}}}
              rules:
                - name: APIDownForAnHour
                  when: vitals_probe_up{{probe="api"}} == 0
                  for: 1h
                  severity: low
                  summary: "{{{{ $labels.probe }}}} has been down for an hour"
            """)))

        def incidents(resolved):
            return [i["labels"]["probe"] for i in get_json(d, "/api/v1/incidents")["incidents"]
                    if (i["resolved"] is not None) == resolved]
        wait_for(lambda: "web" in incidents(False), what="web's ProbeDown to fire")
        api.shutdown()
        api.server_close()  # nothing listens there now
        wait_for(lambda: "api" in incidents(False), what="api's ProbeDown to fire")
        Health.status = 200
        wait_for(lambda: incidents(True) == ["web"] and incidents(False) == ["api"], what="web's incident resolved")
        wait_for(lambda: sorted((a["alertname"], a["state"]) for a in get_json(d, "/api/v1/alerts")["alerts"])
                 == [("APIDownForAnHour", "pending"), ("ProbeDown", "firing")], what="the documented alerts")
        return d

    def test_the_page_has_an_example_for_every_daemon_it_names(self):
        self.assertGreater(len(self.answers), 15)
        self.assertEqual({e.daemon for e, _ in self.answers}, set(self.daemons))

    def test_every_example_answers_as_documented(self):
        for example, answer in self.answers:
            with self.subTest(example=str(example)):
                problems = example_problems(example, *answer)
                self.assertFalse(problems, "\n".join(problems))

    def test_every_json_answer_fits_the_openapi_schema(self):
        for example, (status_line, headers, body) in self.answers:
            if not headers.get("content-type", "").startswith("application/json"):
                continue
            with self.subTest(example=str(example)):
                _, operation = openapi_operation(self.spec, *example.request())
                response = operation["responses"][status_line.split()[1]]
                schema = response["content"][headers["content-type"]]["schema"]
                problems = schema_problems(self.spec, schema, json.loads(body), "$")
                self.assertFalse(problems, "\n".join(problems))

    def test_every_answer_is_one_openapi_documents(self):
        for example, (status_line, headers, _) in self.answers:
            with self.subTest(example=str(example)):
                method, path = example.request()
                status = status_line.split()[1]
                template, operation = openapi_operation(self.spec, method, path)
                if status == "405":  # a method the path does not take: its GET says so
                    template, operation = openapi_operation(self.spec, "GET", path)
                if template is None:  # a path the daemon does not serve
                    self.assertEqual(status, "404", f"{path} is not in openapi.yaml")
                    continue
                self.assertIsNotNone(operation, f"openapi.yaml has no {method} for {template}")
                self.assertIn(status, operation["responses"], f"openapi.yaml has no {status} for {template}")
                response = operation["responses"][status]
                if "$ref" in response:
                    response = self.spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                self.assertIn(headers["content-type"], response.get("content", {}))

    def test_every_path_in_openapi_has_an_example(self):
        shown = set()
        for example, _ in self.answers:
            template, _ = openapi_operation(self.spec, *example.request())
            shown.add(template)
        self.assertEqual(set(self.spec["paths"]) - shown, set())

    def test_the_checks_catch_an_example_that_drifted(self):
        example, answer = next((e, a) for e, a in self.answers if e.command.endswith("/api/v1/alerts"))
        for drift in [("\"firing_since\"", "\"fired_at\""), ("\"value\": 0.0", "\"value\": \"0\""),
                      ("\"state\": \"pending\"", "\"state\": \"waiting\""), ("200 OK", "201 Created")]:
            drifted = Example(example.line, example.daemon, example.command, example.status.replace(*drift),
                              example.headers, example.body.replace(*drift))
            self.assertTrue(example_problems(drifted, *answer), drift)
        self.assertIsNone(re.fullmatch(text_pattern("vitalsd is healthy\n"), "vitalsd is ready\n"))
        _, operation = openapi_operation(self.spec, "GET", "/api/v1/alerts")
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        for field, value in [("firing_since", "yesterday"), ("state", "waiting"), ("labels", {"a": 1}),
                             ("extra", True)]:
            served = json.loads(answer[2])
            served["alerts"][0][field] = value
            self.assertTrue(schema_problems(self.spec, schema, served, "$"), field)


class ReloadTest(unittest.TestCase):
    """configuration.md: enable_lifecycle follows every reload; listen and the limits wait for a restart."""

    def reload(self, d, config):
        loads = len([line for line in d.log() if "config: loaded" in line])
        d.write_config(config)
        d.signal(signal.SIGHUP)
        wait_for(lambda: len([line for line in d.log() if "config: loaded" in line]) > loads, what="the reload")

    def post_reload(self, d):
        return d.get("/-/reload", method="POST", headers={"X-Requested-With": "test"})

    def test_enable_lifecycle_follows_each_reload(self):
        d = Daemon("server: {listen: 127.0.0.1:0}\n")
        self.addCleanup(d.stop)
        self.assertEqual(self.post_reload(d)[0], 403)
        self.reload(d, "server: {listen: 127.0.0.1:0, enable_lifecycle: true}\n")
        self.assertEqual(self.post_reload(d), (200, "config reloaded\n"))
        d.write_config("server: {listen: 127.0.0.1:0, enable_lifecycle: false}\n")
        self.assertEqual(self.post_reload(d), (200, "config reloaded\n"))  # the reload that turns it off
        self.assertEqual(self.post_reload(d)[0], 403)

    def test_listen_and_limits_wait_for_a_restart(self):
        d = Daemon("server: {listen: 127.0.0.1:0}\n")
        self.addCleanup(d.stop)
        self.reload(d, f"server: {{listen: 127.0.0.1:{free_port()}, max_connections: 5}}\n")
        self.assertIsNotNone(d.find_log(r"config: server\.listen.* change only on restart"))
        self.assertEqual(d.get("/-/healthy")[0], 200)  # still where it was


class IncidentsCommandTest(unittest.TestCase):
    """alerts.md: `vitalsd incidents --json` prints what GET /api/v1/incidents serves."""

    def test_json_prints_the_apis_incidents_and_text_the_last_day(self):
        work = tempfile.TemporaryDirectory(prefix="vitals-e2e-incidents-")
        self.addCleanup(work.cleanup)
        state = os.path.join(work.name, "state.db")
        config = f"server: {{listen: 127.0.0.1:0}}\nstate: {{path: {state}}}\n"
        first = Daemon(config)  # makes the state file
        first.stop()
        now_ms = int(time.time() * 1000)
        with sqlite3.connect(state) as db:  # an outage three days ago
            db.execute("INSERT INTO incidents VALUES (1, 'ProbeDown', 'high', '{\"probe\":\"old\"}', ?, ?, "
                       "'old is down', '', '{}')", (now_ms - 73 * 3600_000, now_ms - 72 * 3600_000))
        d = Daemon(config + textwrap.dedent(f"""\
            probes: [{{name: api, type: port, port: {free_port()}, interval: 200ms, timeout: 150ms}}]
            alerts: {{evaluation_interval: 100ms, builtin: {{ProbeDown: {{for: 300ms}}}}}}
            """))
        self.addCleanup(d.stop)
        served = wait_for(lambda: len(get_json(d, "/api/v1/incidents")["incidents"]) == 2
                          and get_json(d, "/api/v1/incidents"), what="the old incident and a new one")
        cli = subprocess.run([VITALSD, "incidents", "-c", d.config_path, "--json"], capture_output=True, text=True)
        self.assertEqual(cli.returncode, 0, cli.stderr)
        printed = json.loads(cli.stdout)
        self.assertEqual([i["id"] for i in printed["incidents"]], [i["id"] for i in served["incidents"]])
        self.assertEqual([i["labels"] for i in printed["incidents"]], [i["labels"] for i in served["incidents"]])
        text = subprocess.run([VITALSD, "incidents", "-c", d.config_path], capture_output=True, text=True)
        self.assertNotIn("probe=old", text.stdout)
        self.assertIn("probe=api", text.stdout)


if __name__ == "__main__":
    unittest.main()
