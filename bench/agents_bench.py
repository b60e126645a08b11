"""Driver of bench/agents.sh (issue 13: `kiln agent`).

usage: agents_bench.py overhead WORK URL FLEET_ARN RUNS BYTES [PARTS]
       agents_bench.py drain WORK URL FLEET_ARN BUILDS KILN_BIN AGENTS SLOTS   (KILN_AGENT_TOKEN set)
       agents_bench.py summary WORK

`overhead` (one agent of the fleet already started): (1) a trivial build on the agent against
the same build run by the server, (2) a build printing BYTES through the agent against the same
script writing to a file (and the server running the build). `drain`: queues BUILDS trivial
builds on the fleet, then starts AGENTS agents (SLOTS builds each) and times the drain; exits 1
when a build did not succeed, was lost, or ran more than once. PARTS (comma-separated, default
"trivial,loud") chooses which of (1) and (2) `overhead` runs. Each mode writes WORK/MODE.json;
`summary` prints the table from them.
"""
import collections
import concurrent.futures
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

ACCESS_KEY = os.environ.get("KILN_ACCESS_KEY_ID", "AKIDKILNBENCH0000001")
SECRET_KEY = os.environ.get("KILN_SECRET_ACCESS_KEY", "kilnBenchSecret000000000000000000000001")
ENVIRONMENT = {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
               "computeType": "BUILD_GENERAL1_SMALL"}
ROLE = "arn:aws:iam::111122223333:role/bench"


def client_for(url, pool=16):
    return boto3.client(
        "codebuild", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}, max_pool_connections=pool),
    )


def read_log(build):
    """The build's whole log from its log endpoint (beside the console page logs.deepLink
    names), signed (SigV4) as the account."""
    base = build["logs"]["deepLink"].split("/projects/", 1)[0]
    url = f"{base}/builds/{build['id'].rsplit(':', 1)[1]}/log"
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "codebuild", "us-east-1").add_auth(request)
    with urllib.request.urlopen(urllib.request.Request(url, headers=dict(request.headers)),
                                timeout=60) as answer:
        return answer.read().decode("utf-8", "replace")


def wait_fleet_active(client, deadline=30):
    t0 = time.time()
    while True:
        status = client.batch_get_fleets(names=["linux"])["fleets"][0]["status"]
        if status["statusCode"] == "ACTIVE":
            return status
        if time.time() - t0 > deadline:
            sys.exit(f"the agent did not connect within {deadline} s: {status}")
        time.sleep(0.1)


def phase_ms(build, kind):
    p = next((p for p in build["phases"] if p["phaseType"] == kind), None)
    if p is None or "endTime" not in p:
        return None
    return (p["endTime"] - p["startTime"]).total_seconds() * 1000


def ms(xs):
    return " ".join(f"{x:.0f}" for x in xs)


def med(xs):
    return statistics.median(xs)


def overhead(work, url, fleet_arn, runs, size, parts):
    client = client_for(url)
    wait_fleet_active(client)
    fleet = {**ENVIRONMENT, "fleet": {"fleetArn": fleet_arn}}
    big = f"head -c {size} /dev/zero | tr '\\0' 'a'"
    source = {"type": "GITHUB", "location": f"{work}/repo"}
    loud = {**source, "buildspec": "version: 0.2\nphases:\n  build:\n    commands:\n      - "
            + big + "\n"}
    for name, src, env in [("trivial-agent", source, fleet), ("trivial-local", source, ENVIRONMENT),
                           ("loud-agent", loud, fleet), ("loud-local", loud, ENVIRONMENT)]:
        client.create_project(name=name, source=src, artifacts={"type": "NO_ARTIFACTS"},
                              environment=env, serviceRole=ROLE)

    def build(project):
        """Client wall time [ms] from StartBuild to buildComplete, and the build."""
        t0 = time.perf_counter()
        b = client.start_build(projectName=project)["build"]
        while not b["buildComplete"]:
            time.sleep(0.002)
            b = client.batch_get_builds(ids=[b["id"]])["builds"][0]
        wall = (time.perf_counter() - t0) * 1000
        if b["buildStatus"] != "SUCCEEDED":
            sys.exit(f"{project}: build {b['id']} ended {b['buildStatus']}: {b}")
        on_agent = project.endswith("-agent")
        head = read_log(b)[:2000] if project.startswith("trivial") else None
        if head is not None and ("Running on agent" in head) != on_agent:
            sys.exit(f"{project}: build {b['id']} ran on the wrong side; log:\n{head}")
        client.batch_delete_builds(ids=[b["id"]])  # drops the log too
        return {"wall": wall, "queued": phase_ms(b, "QUEUED"), "build": phase_ms(b, "BUILD"),
                "server": (b["endTime"] - b["startTime"]).total_seconds() * 1000}

    out_file = f"{work}/out"

    def direct(script, fresh=False):
        if fresh:  # as the build's log, the output goes to a new file
            subprocess.run(["rm", "-f", out_file], check=True)
        t0 = time.perf_counter()
        subprocess.run(["sh", "-c", script], check=True, stdout=subprocess.DEVNULL)
        return {"wall": (time.perf_counter() - t0) * 1000}

    # Warm-up: page cache, SQLite, the agent's connection, first process spawns.
    for project in ("trivial-agent", "trivial-local", "trivial-agent", "trivial-local"):
        build(project)

    trivial = measure_trivial(build, runs) if "trivial" in parts else None
    loud_runs = measure_loud(build, direct, big, out_file, runs, size) if "loud" in parts else None
    with open(f"{work}/overhead.json", "w") as f:
        json.dump({"runs": runs, "bytes": size, "trivial": trivial, "loud": loud_runs}, f)


def measure_trivial(build, runs):
    sides = {"agent": lambda: build("trivial-agent"), "local": lambda: build("trivial-local")}
    trivial = {side: [] for side in sides}
    for i in range(runs):
        order = list(sides) if i % 2 == 0 else list(sides)[::-1]
        for side in order:
            trivial[side].append(sides[side]())
    a, l = trivial["agent"], trivial["local"]
    print("\n(1) trivial build (echo hi): agent vs the server's local executor  [ms]")
    print(f"  agent, client wall (StartBuild→buildComplete): {ms(r['wall'] for r in a)}")
    print(f"  local, client wall (StartBuild→buildComplete): {ms(r['wall'] for r in l)}")
    print(f"  agent, QUEUED phase:                            {ms(r['queued'] for r in a)}")
    print(f"  local, QUEUED phase:                            {ms(r['queued'] for r in l)}")
    print(f"  agent, startTime→endTime:                       {ms(r['server'] for r in a)}")
    print(f"  local, startTime→endTime:                       {ms(r['server'] for r in l)}")
    m_a, m_l = med([r["wall"] for r in a]), med([r["wall"] for r in l])
    pairs = [x["wall"] - y["wall"] for x, y in zip(a, l)]
    print(f"  medians: agent {m_a:.0f} ms, local {m_l:.0f} ms; extra {m_a - m_l:.0f} ms "
          f"(median of same-run differences {med(pairs):.0f} ms; goal < 50 ms)")
    print(f"  QUEUED medians: agent {med([r['queued'] for r in a]):.0f} ms, "
          f"local {med([r['queued'] for r in l]):.0f} ms")
    return trivial


def measure_loud(build, direct, big, out_file, runs, size):
    # The trivial builds of each round give what every build costs (claim, checkout, phases,
    # polling) apart from its log: the loud build minus the trivial one is what the 200 MB
    # themselves cost through each side.
    sides = {"agent": lambda: build("loud-agent"),
             "direct": lambda: direct(f"{big} > {out_file}", fresh=True),
             "local": lambda: build("loud-local"),
             "agent-trivial": lambda: build("trivial-agent"),
             "local-trivial": lambda: build("trivial-local")}
    loud_runs = {side: [] for side in sides}
    names = list(sides)
    for i in range(runs):
        order = names[i % len(names):] + names[:i % len(names)]  # each side at each place in turn
        for side in order:
            loud_runs[side].append(sides[side]())
    a, d, l = loud_runs["agent"], loud_runs["direct"], loud_runs["local"]
    print(f"\n(2) build printing {size} bytes: agent vs sh -c '… > file' (and the server)  [ms]")
    print(f"  agent, client wall:  {ms(r['wall'] for r in a)}")
    print(f"  agent, BUILD phase:  {ms(r['build'] for r in a)}")
    print(f"  sh -c '… > file':    {ms(r['wall'] for r in d)}")
    print(f"  local, client wall:  {ms(r['wall'] for r in l)}")
    print(f"  local, BUILD phase:  {ms(r['build'] for r in l)}")
    m_a, m_ab, m_d = med([r["wall"] for r in a]), med([r["build"] for r in a]), med([r["wall"] for r in d])
    m_l, m_lb = med([r["wall"] for r in l]), med([r["build"] for r in l])
    ratios = [x["wall"] / y["wall"] for x, y in zip(a, d)]
    local_ratios = [x["wall"] / y["wall"] for x, y in zip(l, d)]
    print(f"  medians: agent {m_a:.0f} ms (BUILD phase {m_ab:.0f} ms), direct {m_d:.0f} ms, "
          f"local {m_l:.0f} ms (BUILD phase {m_lb:.0f} ms)")
    print(f"  ratio agent whole build / direct: {m_a / m_d:.2f}x (median of same-run ratios "
          f"{med(ratios):.2f}x; a build's fixed cost is measure (1)); agent BUILD phase / direct: {m_ab / m_d:.2f}x; "
          f"local whole build / direct: {m_l / m_d:.2f}x (median of same-run ratios "
          f"{med(local_ratios):.2f}x); agent / local: {m_a / m_l:.2f}x")
    t_a, t_l = loud_runs["agent-trivial"], loud_runs["local-trivial"]
    log_a = [x["wall"] - t["wall"] for x, t in zip(a, t_a)]
    log_l = [x["wall"] - t["wall"] for x, t in zip(l, t_l)]
    print(f"  trivial builds in the same rounds: agent {ms(r['wall'] for r in t_a)}, "
          f"local {ms(r['wall'] for r in t_l)}")
    print(f"  the log's own cost (loud build - trivial build, same round): agent {ms(log_a)}, "
          f"local {ms(log_l)}")
    print(f"  ratio of the log's cost through an agent / direct: {med(log_a) / m_d:.2f}x (median "
          f"of same-run ratios {med([x / y['wall'] for x, y in zip(log_a, d)]):.2f}x; goal <= 1.5x); "
          f"local: {med(log_l) / m_d:.2f}x")
    return loud_runs


def drain(work, url, fleet_arn, count, kiln_bin, agents, slots):
    client = client_for(url)
    ids_file = f"{work}/drain.ids"
    open(ids_file, "w").close()
    os.chmod(ids_file, 0o666)
    buildspec = ("version: 0.2\nphases:\n  build:\n    commands:\n"
                 f"      - echo $CODEBUILD_BUILD_ID >> {ids_file}\n")
    client.create_project(
        name="drain", source={"type": "NO_SOURCE", "buildspec": buildspec},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={**ENVIRONMENT, "fleet": {"fleetArn": fleet_arn}}, serviceRole=ROLE)

    began = time.time()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: client.start_build(projectName="drain")["build"]["id"],
                            range(count)))
    queued_s = time.time() - began

    def get_all(wanted):
        got = []
        for chunk in range(0, len(wanted), 100):
            got += client.batch_get_builds(ids=wanted[chunk:chunk + 100])["builds"]
        return got

    not_queued = [b["id"] for b in get_all(ids) if b["currentPhase"] != "QUEUED"]
    if not_queued:
        sys.exit(f"{len(not_queued)} builds left QUEUED before any agent ran: {not_queued[:5]}")
    print(f"\n(3) {count} builds queued in {queued_s:.1f} s (8 client threads); "
          f"starting {agents} agents x {slots} slots")

    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env.update(KILN_AGENT_TOKEN=os.environ["KILN_AGENT_TOKEN"], KILN_LOG="info", NO_COLOR="1")
    procs = []
    agents_started = time.time()
    try:
        for n in range(1, agents + 1):
            d = f"{work}/agent-d{n}"
            os.makedirs(d, exist_ok=True)
            procs.append(subprocess.Popen(
                [kiln_bin, "agent", "--server", url, "--name", f"d{n}", "--max-builds",
                 str(slots), "--executor", "local", "--work-dir", f"{d}/work"],
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=open(f"{d}/agent.log", "w")))
            with open(f"{work}/pids", "a") as f:
                f.write(f"{procs[-1].pid}\n")

        done = {}
        while len(done) < count:
            pending = [i for i in ids if i not in done]
            for b in get_all(pending):
                if b["buildComplete"]:
                    done[b["id"]] = b
            if len(done) < count:
                if time.time() - agents_started > 1800:
                    sys.exit(f"timed out: {count - len(done)} builds not complete")
                dead = [p.pid for p in procs if p.poll() is not None]
                if dead:
                    sys.exit(f"agent(s) {dead} exited; see {work}/agent-d*/agent.log")
                time.sleep(0.2)
        seen_complete = time.time()
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    ended = max(b["endTime"].timestamp() for b in done.values())
    first_claim = min(next(p["endTime"] for p in b["phases"] if p["phaseType"] == "QUEUED")
                      .timestamp() for b in done.values())
    statuses = collections.Counter(b["buildStatus"] for b in done.values())
    ran = collections.Counter(open(ids_file).read().split())

    def agent_lines(b):
        return [line for line in read_log(b).splitlines() if "Running on agent" in line]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        lines = dict(zip(done, pool.map(agent_lines, done.values())))
    per_agent = collections.Counter(
        ls[0].split("Running on agent ", 1)[1].split(" ", 1)[0] for ls in lines.values() if ls)
    drain_s = ended - agents_started
    rate = count / drain_s
    print(f"  drained in {drain_s:.1f} s from the agents' start to the last build's end: "
          f"{rate:.1f} builds/s ({count / (ended - first_claim):.1f} builds/s from the first "
          f"claim, {first_claim - agents_started:.2f} s after the agents' start; the client saw "
          f"all complete after {seen_complete - agents_started:.1f} s)")
    print(f"  builds per agent: {dict(sorted(per_agent.items()))}")
    problems = []
    if statuses != {"SUCCEEDED": count}:
        failed = [i for i, b in done.items() if b["buildStatus"] != "SUCCEEDED"][:5]
        problems.append(f"statuses {dict(statuses)} (e.g. {failed})")
    if len(set(ids)) != count:
        problems.append(f"{len(set(ids))} distinct build ids for {count} StartBuild calls")
    lost = [i for i in ids if ran[i] == 0]
    twice = [i for i in ids if ran[i] > 1]
    stray = [i for i in ran if i not in done]
    if lost or twice or stray or len(ran) != count:
        problems.append(f"{len(lost)} never ran, {len(twice)} ran twice, {len(stray)} unknown ids, "
                        f"{len(ran)} distinct ids in the ids file (e.g. lost {lost[:3]}, "
                        f"twice {twice[:3]})")
    bad_logs = {i: len(ls) for i, ls in lines.items() if len(ls) != 1}
    if bad_logs:
        problems.append(f"{len(bad_logs)} logs without exactly one 'Running on agent' line "
                        f"(e.g. {list(bad_logs.items())[:5]})")
    with open(f"{work}/drain.json", "w") as f:
        json.dump({"builds": count, "agents": agents, "slots": slots, "queued_s": queued_s,
                   "drain_s": drain_s, "rate": rate, "per_agent": per_agent,
                   "lost": len(lost), "twice": len(twice), "bad_logs": len(bad_logs),
                   "statuses": statuses, "problems": problems}, f)
    if problems:
        sys.exit("  FAILED: " + "; ".join(problems))
    print(f"  every build SUCCEEDED and ran exactly once: {count} distinct ids, each once in the "
          f"ids file, each log with one 'Running on agent' line")


def summary(work):
    rows = []
    try:
        o = json.load(open(f"{work}/overhead.json"))
    except FileNotFoundError:
        o = None
    if o and o["trivial"]:
        t = o["trivial"]
        ta, tl = med([r["wall"] for r in t["agent"]]), med([r["wall"] for r in t["local"]])
        rows.append(("trivial build, StartBuild→buildComplete", f"{ta:.0f} ms",
                     f"{tl:.0f} ms (server's local executor)", f"{ta - tl:+.0f} ms", "< 50 ms",
                     "yes" if ta - tl < 50 else "NO"))
    if o and o["loud"]:
        lo = o["loud"]
        la, lb = med([r["wall"] for r in lo["agent"]]), med([r["build"] for r in lo["agent"]])
        ld, ll = med([r["wall"] for r in lo["direct"]]), med([r["wall"] for r in lo["local"]])
        mb = o["bytes"] / 1e6
        # The goal is what the log costs through an agent: the loud build less the trivial build
        # of the same round (a build's fixed cost is the trivial build's goal).
        log_cost = med([x["wall"] - t["wall"] for x, t in zip(lo["agent"], lo["agent-trivial"])])
        rows += [
            (f"{mb:.0f} MB log, its cost (loud - trivial build)", f"{log_cost:.0f} ms",
             f"{ld:.0f} ms (sh -c '… > file')", f"{log_cost / ld:.2f}x", "<= 1.5x",
             "yes" if log_cost / ld <= 1.5 else "NO"),
            (f"{mb:.0f} MB log, whole build", f"{la:.0f} ms", f"{ld:.0f} ms (sh -c '… > file')",
             f"{la / ld:.2f}x", "", ""),
            (f"{mb:.0f} MB log, BUILD phase", f"{lb:.0f} ms", f"{ld:.0f} ms (sh -c '… > file')",
             f"{lb / ld:.2f}x", "", ""),
            (f"{mb:.0f} MB log, whole build on the server", f"{ll:.0f} ms (server)",
             f"{ld:.0f} ms (sh -c '… > file')", f"{ll / ld:.2f}x", "", ""),
        ]
    try:
        d = json.load(open(f"{work}/drain.json"))
    except FileNotFoundError:
        d = None
    if d:
        ok = not d["problems"]
        rows.append((f"{d['builds']} queued builds, {d['agents']} agents x {d['slots']}",
                     f"{d['rate']:.1f} builds/s ({d['drain_s']:.1f} s)", "",
                     f"lost {d['lost']}, twice {d['twice']}, bad logs {d['bad_logs']}",
                     "none lost or doubled", "yes" if ok else "NO"))
    if not rows:
        return
    head = ("measure", "agent", "reference", "extra / ratio", "goal", "goal met")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    print("\nsummary (medians)")
    for r in [head] + rows:
        print("  " + " | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "overhead":
        overhead(args[0], args[1], args[2], int(args[3]), int(args[4]),
                 (args[5] if len(args) > 5 else "trivial,loud").split(","))
    elif mode == "drain":
        drain(args[0], args[1], args[2], int(args[3]), args[4], int(args[5]), int(args[6]))
    elif mode == "summary":
        summary(args[0])
    else:
        sys.exit(__doc__)
