"""Drives darwin-py 3.5.3 (its CLI and its Python API) against the V7 Darwin simulator and checks each outcome.

Not a test of the suite: a record of what was run by hand (see ../README.md "darwin-py against the simulator").
Needs darwin-py's source on PYTHONPATH (see setup.sh) and a simulator started with serve.ts's SERVE_DEFAULTS:

    DARWIN_BASE_URL=http://127.0.0.1:4899 python drive.py [scenario ...]

Each scenario resets the simulator (POST /__sim/reset), runs darwin-py, then reads GET /__sim/state.
Exits 1 when an outcome differs from what the contract says.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BASE = os.environ["DARWIN_BASE_URL"]
KEY = os.environ.setdefault("DARWIN_API_KEY", "SIMFAKE.sim-fake-api-key-not-a-secret-00")
# darwin-py waits 60-300 s between retries; shorten them so a run takes seconds.
os.environ.setdefault("DARWIN_RETRY_INITIAL_WAIT", "1")
os.environ.setdefault("DARWIN_RETRY_MAX_WAIT", "2")
os.environ.setdefault("DARWIN_RETRY_MAX_ATTEMPTS", "3")
WORK = Path(os.environ.get("DRIVE_WORK", "/tmp/v7-darwin-drive"))
os.environ["HOME"] = str(WORK / "home")  # darwin-py writes ~/.darwin; keep it out of the real home

from darwin.client import Client  # noqa: E402
from darwin.dataset.upload_manager import LocalFile  # noqa: E402
from darwin.exceptions import InsufficientStorage, ValidationError  # noqa: E402

failures = []


def sim(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, method=method, data=data)
    with urllib.request.urlopen(req) as res:
        return json.loads(res.read() or b"null")


def state():
    return sim("GET", "/__sim/state")


def requests_log():
    return [(r["method"], r["route"], r.get("status"), r["outcome"]) for r in sim("GET", "/__sim/requests")]


def check(name, ok, detail):
    print(("  ok   " if ok else "  FAIL ") + name + ("" if ok else f"  -- {detail}"))
    if not ok:
        failures.append(name)


def cli(*args, env=None):
    """`darwin <args>` as a user runs it; answers (exit code, output)."""
    out = subprocess.run(
        [sys.executable, "-m", "darwin.cli", *args], cwd=WORK, capture_output=True, text=True, timeout=600, env=env
    )
    text = (out.stdout + out.stderr).strip()
    print("  $ darwin " + " ".join(args))
    print("    " + "\n    ".join(line for line in text.splitlines() if line.strip())[-1500:])
    return out.returncode, text


def stats_item(name):
    return next((i for i in state()["stats"]["items"] if i["name"] == name), None)


def make_files():
    """Small files; the simulator infers a slot's type from its extension, like V7."""
    files = WORK / "files"
    for sub in ("files", "video", "slots/station-7", "home"):
        (WORK / sub).mkdir(parents=True, exist_ok=True)
    jpeg = bytes.fromhex("ffd8ffe000104a46494600010100000100010000") + b"\0" * 1000 + bytes.fromhex("ffd9")
    for i in (1, 2, 3):
        (files / f"part-00{i}.jpg").write_bytes(jpeg + bytes([i]) * (100 * i))
    (WORK / "video" / "inspection-cam1.mp4").write_bytes(b"\0\0\0\x18ftypisom" + b"\0" * 20000)
    for name in ("front", "back"):
        (WORK / "slots" / "station-7" / f"{name}.jpg").write_bytes(jpeg + name.encode())


def client():
    return Client.from_api_key(KEY)


# ------------------------------------------------------------------------------------------------ scenarios


def authenticate():
    """The login a user does once: `darwin authenticate` (token_info), then commands that read ~/.darwin/config.yaml."""
    sim("POST", "/__sim/reset")
    env = {k: v for k, v in os.environ.items() if k != "DARWIN_API_KEY"}
    rc, out = cli("authenticate", "--api_key", KEY, "--default_team", "acme", "--datasets_dir", str(WORK / "datasets"), env=env)
    check("authenticate: succeeded", rc == 0 and "Authentication succeeded" in out, out)
    rc, out = cli("compression", "5", env=env)
    rc, out = cli("dataset", "push", "line-1", "files/part-001.jpg", env=env)
    check("push with the saved config and zlib payloads: uploaded", "All 1 files have been successfully uploaded" in out, out)
    register = [r for r in sim("GET", "/__sim/requests") if r["route"] == "registerUpload"]
    check("compressed register body", register[0]["details"].get("compressed") is True, register)
    cli("compression", "0", env=env)
    rc, out = cli("dataset", "remote", env=env)
    check("dataset remote: both datasets listed", "acme/line-1" in out and "acme/line-2" in out, out)


def push_three():
    sim("POST", "/__sim/reset")
    rc, out = cli("dataset", "push", "line-1", "files/part-001.jpg", "files/part-002.jpg", "files/part-003.jpg")
    check("push: exit 0, all 3 uploaded", rc == 0 and "All 3 files have been successfully uploaded" in out, out)
    items = state()["teams"]["acme"]["datasets"]["line-1"]
    check("push: 3 items complete", [i["status"] for i in items] == ["complete"] * 3, items)
    sizes = {i["name"]: i["slots"][0]["size"] for i in items}
    want = {p.name: p.stat().st_size for p in (WORK / "files").glob("part-00*.jpg")}
    check("push: stored sizes equal the files", sizes == want, (sizes, want))
    routes = [r[1] for r in requests_log()]
    check(
        "push: lookups then one register, 3 × sign/PUT/confirm",
        routes[:3] == ["tokenInfo", "listDatasets", "registerUpload"]
        and sorted(routes[3:]) == sorted(["signUpload", "s3Put", "confirmUpload"] * 3),
        routes,
    )
    # Re-push: V7 blocks the 3 items as ALREADY_EXISTS; darwin-py reports them as skipped.
    rc, out = cli("dataset", "push", "line-1", "files/part-001.jpg", "files/part-002.jpg", "files/part-003.jpg")
    check("re-push: 3 skipped as already in the dataset", "Skipped 3 files already in the dataset" in out, out)
    item = stats_item("part-001.jpg")
    check(
        "re-push: 2 register calls, bytes PUT once",
        item["registerCalls"] == 2 and item["blockedReasons"] == ["ALREADY_EXISTS"] and item["putRequests"] == 1,
        item,
    )


def unknown_tag():
    sim("POST", "/__sim/reset")
    ds = client().get_remote_dataset("line-1")
    handler = ds.push(
        [
            LocalFile(WORK / "files/part-001.jpg", tags=["no-such-tag"]),
            LocalFile(WORK / "files/part-002.jpg", tags=["defect"]),
        ]
    )
    reasons = [(b.filename, [s.reason for s in b.slots]) for b in handler.blocked_items]
    check("unknown tag: blocked UNKNOWN_TAGS", reasons == [("part-001.jpg", ["UNKNOWN_TAGS"])], reasons)
    check("unknown tag: the tagged item uploads", handler.error_count == 0 and handler.pending_count == 1, handler.errors)
    items = state()["teams"]["acme"]["datasets"]["line-1"]
    check("unknown tag: only part-002 stored, tagged", [(i["name"], i["slots"][0]["tags"]) for i in items] == [("part-002.jpg", ["defect"])], items)


def video_as_frames():
    sim("POST", "/__sim/reset")
    rc, out = cli("dataset", "push", "line-1", "video/inspection-cam1.mp4", "--frames", "--fps", "2")
    check("as_frames video: uploaded", rc == 0 and "All 1 files have been successfully uploaded" in out, out)
    slot = state()["teams"]["acme"]["datasets"]["line-1"][0]["slots"][0]
    check(
        "as_frames video: type video, as_frames true, fps \"2\" (the CLI sends a string)",
        (slot["type"], slot["as_frames"], slot["fps"], slot["status"]) == ("video", True, "2", "complete"),
        slot,
    )


def multi_slot():
    sim("POST", "/__sim/reset")
    rc, out = cli("dataset", "push", "line-2", "slots/station-7", "--item-merge-mode", "slots")
    check("slots: uploaded", rc == 0 and "successfully uploaded" in out, out)
    items = state()["teams"]["acme"]["datasets"]["line-2"]
    ok = len(items) == 1 and [s["file_name"] for s in items[0]["slots"]] == ["back.jpg", "front.jpg"]
    check("slots: one item station-7, two slots, layout v3", ok and items[0]["layout"]["version"] == 3, items)
    check("slots: two sign/PUT/confirm", stats_item("station-7")["confirmRequests"] == 2, stats_item("station-7"))


def put_503_then_empty_body():
    """darwin-py re-sends the consumed stream after a 503: S3 answers 400 RequestTimeout after its idle time."""
    sim("POST", "/__sim/reset")
    sim("PUT", "/__sim/faults", {"script": [{"route": "s3Put", "status": 503, "times": 1}]})
    started = time.monotonic()
    rc, out = cli("dataset", "push", "line-1", "files/part-001.jpg", "--verbose")
    took = time.monotonic() - started
    log = [r for r in sim("GET", "/__sim/requests") if r["route"] == "s3Put"]
    check("503 then empty body: 400 RequestTimeout recorded", [r.get("status") for r in log] == [503, 400], log)
    check("503 then empty body: darwin-py reports UPLOAD_TO_S3", "UPLOAD_TO_S3" in out and "400" in out, out)
    print(f"    (push returned after {took:.1f} s)")
    rc, out = cli("dataset", "push", "line-1", "files/part-001.jpg")
    check("503 then empty body: a re-push cannot finish the item (ALREADY_EXISTS)", "Skipped 1 files" in out, out)


def retries():
    """darwin-py retries 429 and 5xx on /api routes (never reading Retry-After); 401/404/429 storage stop it."""
    sim("POST", "/__sim/reset")
    sim(
        "PUT",
        "/__sim/faults",
        {
            "script": [
                {"route": "registerUpload", "status": 429, "headers": {"retry-after": "30"}},
                {"route": "signUpload", "status": 503},
                {"route": "confirmUpload", "status": 500},
            ]
        },
    )
    started = time.monotonic()
    rc, out = cli("dataset", "push", "line-1", "files/part-001.jpg")
    took = time.monotonic() - started
    check("429/503/500 retried: uploaded", "All 1 files have been successfully uploaded" in out, out)
    check("429 with Retry-After: 30 s not honoured", took < 30, f"{took:.1f} s")
    print(f"    (push returned after {took:.1f} s)")
    item = stats_item("part-001.jpg")
    check("retries: 1 register call reached V7, 2 signs, 1 PUT, 2 confirms",
          (item["registerCalls"], item["signRequests"], item["putRequests"], item["confirmRequests"]) == (1, 2, 1, 2), item)

    sim("POST", "/__sim/reset")
    ds = client().get_remote_dataset("line-1")
    sim("PUT", "/__sim/faults", {"script": [{"route": "registerUpload", "status": 429, "times": 3,
                                             "body": {"errors": {"code": "INSUFFICIENT_REMAINING_STORAGE"}}}]})
    try:
        ds.push([WORK / "files/part-001.jpg"])
        check("429 INSUFFICIENT_REMAINING_STORAGE: InsufficientStorage", False, "no exception")
    except InsufficientStorage:
        calls = [r for r in requests_log() if r[1] == "registerUpload"]
        check("429 INSUFFICIENT_REMAINING_STORAGE: raised, not retried", len(calls) == 1, calls)

    os.environ["DARWIN_API_KEY"] = "SIMFAKE.this-key-is-not-known-000000000"
    rc, out = cli("dataset", "push", "line-1", "files/part-001.jpg")
    os.environ["DARWIN_API_KEY"] = KEY
    check("401: darwin-py asks to re-authenticate", "re-authenticate" in out, out)
    rc, out = cli("dataset", "push", "no-such-dataset", "files/part-001.jpg")
    check("unknown dataset: not found from the lookup", "No dataset with name" in out, out)


def register_external():
    sim("POST", "/__sim/reset")
    c = client()
    storage = c.get_external_storage(name="acme-bucket")
    check("storage lookup: acme-bucket read-write aws", (storage.readonly, storage.provider, storage.bucket) == (False, "aws", "acme-factory-images"), repr(storage))
    check("storage lookup: default connection", c.get_external_storage().name == "acme-bucket", "")
    ds = c.get_remote_dataset("line-1")
    res = ds.register(storage, ["factory/line-1/part-101.jpg", "factory/line-1/cam-1.mp4"], fps=5, preserve_folders=True)
    check("register read-write: 2 registered", len(res["registered"]) == 2 and not res["blocked"], res)
    items = state()["teams"]["acme"]["datasets"]["line-1"]
    got = [(i["path"], i["name"], i["slots"][0]["storage_key"], i["slots"][0]["type"], i["slots"][0].get("fps")) for i in items]
    check("register read-write: paths from keys, types, fps on the video", got == [
        ("/factory/line-1", "part-101.jpg", "factory/line-1/part-101.jpg", "image", None),
        ("/factory/line-1", "cam-1.mp4", "factory/line-1/cam-1.mp4", "video", 5),
    ], got)
    res = ds.register(storage, ["factory/line-1/part-101.jpg"], preserve_folders=True)
    check("register again: ALREADY_EXISTS", res["blocked"] == ["Item part-101.jpg was blocked for the reason: ALREADY_EXISTS"], res)
    res = ds.register(storage, {"station-9": ["factory/s9/top.jpg", "factory/s9/side.jpg"]}, multi_slotted=True)
    check("register multi-slot: 1 item, 2 slots", len(res["registered"]) == 1, res)
    check("register: zero bytes PUT", state()["stats"]["totals"]["bytesPut"] == 0, state()["stats"]["totals"])
    readonly = c.get_external_storage(name="acme-readonly")
    check("storage lookup: acme-readonly is read-only", readonly.readonly is True, repr(readonly))
    try:
        ds.register(readonly, ["archive/part-1.jpg"])
        check("register read-write on a read-only storage: 422", False, "accepted")
    except ValidationError as e:
        check("register read-write on a read-only storage: 422", "storage_slug" in str(e), str(e))


def register_readonly():
    """darwin-py's read-only path: ffmpeg extracts HLS segments, frames and a thumbnail, boto3 writes them to the
    storage's bucket (an S3 emulator at AWS_ENDPOINT_URL), then register_existing_readonly."""
    if not shutil.which("ffmpeg") or not os.environ.get("AWS_ENDPOINT_URL"):
        print("  skipped: needs ffmpeg on PATH and AWS_ENDPOINT_URL (an S3 emulator) -- see setup.sh")
        return
    import boto3

    sim("POST", "/__sim/reset")
    c = client()
    storage = c.get_external_storage(name="acme-readonly")
    s3 = boto3.client("s3")
    for store in (storage, c.get_external_storage(name="acme-bucket")):
        if store.bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
            s3.create_bucket(Bucket=store.bucket, CreateBucketConfiguration={"LocationConstraint": store.region})
    video = WORK / "cam-2.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=3:size=320x240:rate=10",
                    "-pix_fmt", "yuv420p", str(video)], check=True)
    ds = c.get_remote_dataset("line-1")
    res = ds.register_locally_processed(storage, [video], fps=0.0)
    check("register read-only video: registered", len(res["registered"]) == 1 and not res["blocked"], res)
    item = state()["teams"]["acme"]["datasets"]["line-1"][0]
    meta = item["slots"][0]["metadata"]
    check("register read-only: complete at once, nothing PUT", item["status"] == "complete" and item["source"] == "external_readonly"
          and state()["stats"]["totals"]["bytesPut"] == 0, item)
    check("register read-only: the extractor's metadata arrived", (meta["width"], meta["height"], meta["total_frames"]) == (320, 240, 30), meta)
    res = c.get_remote_dataset("line-2").register_locally_processed(
        c.get_external_storage(name="acme-bucket"), [video], fps=0.0
    )
    check("read-only registration on a read-write storage: accepted", len(res["registered"]) == 1, res)


SCENARIOS = {
    "authenticate": authenticate,
    "push": push_three,
    "unknown-tag": unknown_tag,
    "as-frames": video_as_frames,
    "slots": multi_slot,
    "put-503": put_503_then_empty_body,
    "retries": retries,
    "register": register_external,
    "register-readonly": register_readonly,
}

if __name__ == "__main__":
    make_files()
    for name in sys.argv[1:] or SCENARIOS:
        print(f"== {name}")
        SCENARIOS[name]()
    print("FAILED: " + ", ".join(failures) if failures else "all checks passed")
    sys.exit(1 if failures else 0)
