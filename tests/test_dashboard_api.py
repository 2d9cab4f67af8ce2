"""The review dashboard's API: sign-in, roles, path traversal, CSRF, actions and frame images."""

import shutil
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from flows.dashboard import DashboardSettings, ReelReader, ReprocessService, add_user, create_app, remove_user
from flows.dashboard.auth import hash_password, load_users, verify_password
from flows.dashboard.images import render, to_8bit
from flows.dashboard.reader import find_stores
from restoration.core.restore import RestoreConfig
from restoration.io.reel import probe, read_frames
from restoration.store.lock import RunLock
from restoration.store.provenance import SCORE_NAMES, STATUS, FrameResults, ProvenanceStore
from tests.clips import random_frames, write_clip

ORIGIN = {"Origin": "http://testserver"}
T, H, W = 6, 24, 32


def dashboard(root: Path, users: Path, secret: str = "s"):
    """The dashboard over ``root``, reprocessing only marked (no flow started)."""
    return create_app(ReelReader(root), ReprocessService("mark"), DashboardSettings(users, secret=secret))


def make_store(folder: Path, name: str = "reel", done: bool = True) -> ProvenanceStore:
    """A tiny gray reel and its store: frames 0..4 done with a 3x3 fill on frame 2, frame 5 pending."""
    folder.mkdir(parents=True, exist_ok=True)
    clip = write_clip(folder / f"{name}.mkv", random_frames(T, H, W, 1, np.uint8), "gray", audio=False)
    info = probe(clip)
    store = ProvenanceStore.create(folder / f"{name}.zarr", info)
    frames = read_frames(info)
    mask = np.zeros((T, H, W), bool)
    mask[2, 5:8, 10:13] = True
    restored = frames.copy()
    restored[2, 5:8, 10:13] = 7
    scores = np.zeros((T, len(SCORE_NAMES)), np.float32)
    scores[:, 0] = mask.mean(axis=(1, 2))
    status = np.full(T - 1, STATUS["done"], np.uint8)
    # Frame 5 is still pending: a run has not written it yet.
    store.write(FrameResults(0, mask[:-1], frames[:-1], restored[:-1], scores[:-1], status))
    store.set_status([3], "flagged")
    store.log_event("frame_flagged", user="checker", frame=3, reason="warping error 4.2x the ring's")
    return store


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("dash")
    root = base / "out"
    store = make_store(root / "batch1")
    outside = make_store(base / "elsewhere", "secret")
    (root / "escape.zarr").symlink_to(outside.path, target_is_directory=True)
    users = base / "users.json"
    add_user(users, "ada", "correct horse", "operator")
    add_user(users, "vic", "viewer pass", "viewer")
    app = dashboard(root, users, secret="test-secret")
    return {"app": app, "root": root, "store": store, "outside": outside, "users": users}


def signed_in(site, name="ada", password="correct horse") -> tuple[TestClient, str]:
    client = TestClient(site["app"])
    r = client.post("/api/login", json={"name": name, "password": password}, headers=ORIGIN)
    assert r.status_code == 200, r.text
    return client, r.json()["csrf"]


RID = "batch1/reel.zarr"


def act(client, csrf, action, frames, note="", headers=None):
    h = {**ORIGIN, "X-CSRF-Token": csrf} if headers is None else headers
    return client.post(f"/api/reels/{RID}/actions", json={"action": action, "frames": frames, "note": note}, headers=h)


def test_password_hashing_and_users_file(tmp_path):
    encoded = hash_password("s3cret")
    assert encoded.startswith("scrypt$") and "s3cret" not in encoded
    assert verify_password("s3cret", encoded) and not verify_password("s3cret!", encoded)
    path = tmp_path / "u.json"
    add_user(path, "bo", "password", "viewer")
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_users(path)["bo"]["role"] == "viewer"
    with pytest.raises(ValueError, match="unknown role 'admin'"):
        add_user(path, "bo", "password", "admin")
    with pytest.raises(ValueError, match="invalid user name"):
        add_user(path, "../x", "password", "viewer")
    with pytest.raises(ValueError, match="password too short: at least 8 characters"):
        add_user(path, "bo", "1234567", "viewer")


def test_sign_in_session_cookie_and_wrong_password(site):
    anon = TestClient(site["app"])
    assert anon.get("/api/reels").status_code == 401
    assert anon.get("/").status_code == 200  # the page itself (sign-in form) is public
    r = anon.post("/api/login", json={"name": "ada", "password": "wrong"}, headers=ORIGIN)
    assert r.status_code == 401 and "restoration_session" not in r.cookies
    assert anon.post("/api/login", json={"name": "nobody", "password": "x"}, headers=ORIGIN).status_code == 401
    r = anon.post("/api/login", json={"name": "ada", "password": "correct horse"}, headers=ORIGIN)
    assert r.status_code == 200 and r.json()["role"] == "operator" and r.json()["can_act"]
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "content-security-policy" in r.headers
    reels = anon.get("/api/reels").json()["reels"]
    assert [x["id"] for x in reels] == [RID]  # the symlink to a store outside the root is not listed
    assert reels[0]["counts"]["flagged"] == 1 and reels[0]["counts"]["pending"] == 1
    # A forged or tampered cookie is no session.
    forged = TestClient(site["app"], cookies={"restoration_session": "eyJ1IjoiYWRhIn0.AAAA"})
    assert forged.get("/api/me").status_code == 401


def test_session_ends_when_user_removed(site, tmp_path):
    users = tmp_path / "u.json"
    add_user(users, "tmp", "password", "operator")
    app = dashboard(site["root"], users)
    client = TestClient(app)
    assert client.post("/api/login", json={"name": "tmp", "password": "password"}, headers=ORIGIN).status_code == 200
    assert client.get("/api/me").status_code == 200
    remove_user(users, "tmp")
    assert client.get("/api/me").status_code == 401


def test_viewer_can_look_but_not_act(site):
    client, csrf = signed_in(site, "vic", "viewer pass")
    assert client.get(f"/api/reels/{RID}").status_code == 200
    for action, note in (("approve", ""), ("flag", "looks wrong"), ("reprocess", "")):
        assert act(client, csrf, action, [0], note).status_code == 403
    assert ProvenanceStore(site["store"].path).status()[0] == STATUS["done"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/reels/..%2F..%2Fetc",
        "/api/reels/..%2F..%2Fetc%2Fpasswd",
        "/api/reels/%2Fetc%2Fpasswd",
        "/api/reels//etc/passwd",
        "/api/reels/..%2Felsewhere%2Fsecret.zarr",
        "/api/reels/batch1%2F..%2F..%2Felsewhere%2Fsecret.zarr",
        "/api/reels/escape.zarr",  # a symlink inside the root to a store outside it
        "/api/reels/escape.zarr/frames/0/before.png",
        "/api/reels/..%2Felsewhere%2Fsecret.zarr/frames/0/before.png",
        "/api/reels/batch1%5C..%5C..%5Celsewhere%5Csecret.zarr",
        "/api/reels/batch1",  # inside the root but not a store
    ],
)
def test_path_traversal_refused(site, path):
    client, _ = signed_in(site)
    r = client.get(path)
    assert r.status_code in (400, 404), (path, r.status_code)
    assert "secret" not in r.text and "root:" not in r.text


def test_traversal_refused_for_actions(site):
    client, csrf = signed_in(site)
    r = client.post(
        "/api/reels/escape.zarr/actions",
        json={"action": "approve", "frames": [0]},
        headers={**ORIGIN, "X-CSRF-Token": csrf},
    )
    assert r.status_code in (400, 404)
    assert ProvenanceStore(site["outside"].path).status()[0] == STATUS["done"]


def test_csrf_and_origin_checked(site):
    client, csrf = signed_in(site)
    before = ProvenanceStore(site["store"].path).status()[0]
    assert act(client, csrf, "approve", [0], headers=ORIGIN).status_code == 403  # no token
    assert act(client, csrf, "approve", [0], headers={**ORIGIN, "X-CSRF-Token": "0" * 64}).status_code == 403
    assert act(client, csrf, "approve", [0], headers={"X-CSRF-Token": csrf}).status_code == 403  # no Origin
    evil = {"Origin": "http://evil.example", "X-CSRF-Token": csrf}
    assert act(client, csrf, "approve", [0], headers=evil).status_code == 403
    # Another session's token does not fit this one.
    _, other = signed_in(site)
    assert act(client, csrf, "approve", [0], headers={**ORIGIN, "X-CSRF-Token": other}).status_code == 403
    # Sign-in itself is refused from another origin.
    anon = TestClient(site["app"])
    r = anon.post("/api/login", json={"name": "ada", "password": "correct horse"}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert ProvenanceStore(site["store"].path).status()[0] == before


def test_approve_flag_reprocess_write_events_and_status(site):
    client, csrf = signed_in(site)
    r = act(client, csrf, "approve", [1])
    assert r.status_code == 200, r.text
    store = ProvenanceStore(site["store"].path)
    assert store.status()[1] == STATUS["approved"]
    event = store.events()[-1]
    assert event["kind"] == "frame_approved" and event["user"] == "ada" and event["frame"] == 1 and event["time"]

    assert act(client, csrf, "flag", [4]).status_code == 422  # a flag needs a note
    assert act(client, csrf, "flag", [4], note="  hair left at top left ").status_code == 200
    assert ProvenanceStore(site["store"].path).status()[4] == STATUS["flagged"]
    detail = client.get(f"/api/reels/{RID}").json()
    flagged = {f["frame"]: f for f in detail["flagged"]}
    assert flagged[3]["reasons"][0]["reason"].startswith("warping error")
    assert flagged[4]["reasons"][-1] == {
        "time": flagged[4]["reasons"][-1]["time"],
        "user": "ada",
        "by": None,
        "reason": "hair left at top left",
        "source": "operator",
    }

    r = act(client, csrf, "reprocess", [3, 4])
    assert r.status_code == 200 and r.json()["reprocess"]["backend"] == "mark"
    store = ProvenanceStore(site["store"].path)
    assert list(store.status()[[3, 4]]) == [STATUS["reprocess"]] * 2
    kinds = [e["kind"] for e in store.events()[-2:]]
    assert kinds == ["frame_reprocess_requested", "reprocess_started"]

    assert act(client, csrf, "approve", [5]).status_code == 409  # pending: a run owns it
    assert act(client, csrf, "approve", [99]).status_code == 422
    frame = client.get(f"/api/reels/{RID}/frames/4").json()
    assert frame["status"] == "reprocess" and [e["kind"] for e in frame["events"]][-2:] == [
        "frame_reprocess_requested",
        "reprocess_started",
    ]


def test_reprocess_service_runs_the_flow_in_a_thread(tmp_path):
    """``local``: the ``reprocess_flagged`` flow in a thread, on the frames given, for the operator."""
    store = make_store(tmp_path / "r")
    store.log_event("run_started", config=asdict(RestoreConfig(detector="temporal", inpainter="temporal_median", seed=1)))
    store.log_event("run_finished")
    store.set_status([3], "reprocess")
    service = ReprocessService("local")
    assert service.start(store.path, [3], "ada") == {"backend": "local", "function": "flows.reprocess_flagged.reprocess_flagged"}
    for thread in service.threads:
        thread.join(300)
    events = ProvenanceStore(store.path).events()
    assert [e["kind"] for e in events if e["kind"] == "reprocess_failed"] == []
    assert [(e["frame"], e["user"], e["seed"]) for e in events if e["kind"] == "frame_reprocessed"] == [(3, "ada", 2)]
    with pytest.raises(ValueError, match="unknown reprocess mode 'later'"):
        ReprocessService("later")


def test_a_reel_is_running_while_a_run_is_active_and_incomplete_after_it_failed(tmp_path):
    store = make_store(tmp_path)  # frame 5 still pending
    reader = ReelReader(tmp_path)
    assert reader.summary(store.path)["state"] == "incomplete"
    store.log_event("run_started", run_id="r1")
    assert reader.summary(store.path)["state"] == "running"
    store.log_event("run_failed", run_id="r1")
    assert reader.summary(store.path)["state"] == "incomplete"


def test_frame_images(site):
    client, _ = signed_in(site)
    store = site["store"]
    source = read_frames(store.info, 2, 3)[0]
    imgs = {}
    for kind in ("before", "after", "mask"):
        r = client.get(f"/api/reels/{RID}/frames/2/{kind}.png")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        imgs[kind] = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(imgs["before"], source[..., 0])
    assert (imgs["after"][5:8, 10:13] == 7).all()
    assert np.array_equal(imgs["after"][0:5], source[0:5, :, 0])
    assert imgs["mask"].shape == (H, W, 3) and tuple(imgs["mask"][6, 11]) == (40, 40, 255)  # red, BGR
    assert client.get(f"/api/reels/{RID}/frames/{T}/before.png").status_code == 404
    assert client.get(f"/api/reels/{RID}/frames/0/other.png").status_code == 404


def test_16_bit_frames_shown_as_8_bit():
    frame = np.full((4, 5, 3), 0xABCD, np.uint16)
    assert to_8bit(frame).dtype == np.uint8 and (to_8bit(frame) == 0xAB).all()
    mask = np.zeros((4, 5), bool)
    mask[1, 1] = True
    after = render("after", frame, mask, np.full_like(frame, 0x1200))
    assert after[1, 1, 0] == 0x12 and after[0, 0, 0] == 0xAB
    assert render("mask", frame, mask, frame)[1, 1].tolist() == [255, 40, 40]


def test_find_stores_skips_symlinks_out_of_root(site):
    assert [p.name for p in find_stores(site["root"])] == ["reel.zarr"]


def test_sign_out_ends_the_session_on_the_server(tmp_path):
    """After sign-out a copied cookie is refused, by this server and by one restarted with the secret."""
    make_store(tmp_path / "out")
    users = tmp_path / "users.json"
    add_user(users, "ada", "correct horse", "operator")
    app = dashboard(tmp_path / "out", users)
    client = TestClient(app)
    login = client.post("/api/login", json={"name": "ada", "password": "correct horse"}, headers=ORIGIN)
    cookie, csrf = client.cookies["restoration_session"], login.json()["csrf"]
    other = TestClient(app)
    other.post("/api/login", json={"name": "ada", "password": "correct horse"}, headers=ORIGIN)
    assert client.post("/api/logout", headers={**ORIGIN, "X-CSRF-Token": csrf}).status_code == 200
    for server in (app, dashboard(tmp_path / "out", users)):
        stolen = TestClient(server, cookies={"restoration_session": cookie})
        assert stolen.get("/api/me").status_code == 401
        r = stolen.post(
            f"/api/reels/{RID.split('/')[1]}/actions", json={"action": "approve", "frames": [1]}, headers={**ORIGIN, "X-CSRF-Token": csrf}
        )
        assert r.status_code == 401
    assert other.get("/api/me").status_code == 200  # her other session (another browser) goes on


@pytest.mark.parametrize(
    "origin, allowed",
    [
        ("http://testserver", True),
        ("HTTP://TestServer:80", True),
        ("https://testserver", False),
        ("http://testserver:8080", False),
        ("http://testserver.evil.org", False),
        ("http://testserver:notaport", False),
    ],
)
def test_origin_compared_by_scheme_host_and_port(site, origin, allowed):
    client, csrf = signed_in(site)
    for header in ({"Origin": origin}, {"Referer": origin + "/#/reel/x"}):
        # Frame 5 is pending: past the origin check the action is refused with 409 and changes nothing.
        r = act(client, csrf, "approve", [5], headers={**header, "X-CSRF-Token": csrf})
        assert r.status_code == (409 if allowed else 403), (header, r.status_code, r.text)


def test_any_reel_id_and_any_store_on_disk_give_4xx(tmp_path):
    root = tmp_path / "out"
    make_store(root)
    truncated = make_store(root / "truncated").path
    (truncated / "zarr.json").write_text((truncated / "zarr.json").read_text()[:40])
    bad_events = make_store(root / "events").path
    (bad_events / "events" / "0-bad.json").write_text("{not json")
    shutil.rmtree(make_store(root / "nostatus").path / "status")
    users = tmp_path / "users.json"
    add_user(users, "ada", "correct horse", "operator")
    client, csrf = signed_in({"app": dashboard(root, users)})
    bad_ids = ["a" * 300 + ".zarr", "x/" + "b" * 256 + ".zarr", "c" * 255 + "/reel.zarr", "reel.zarr/" + "d" * 4000, "%ff.zarr"]
    damaged = ["truncated/reel.zarr", "events/reel.zarr", "nostatus/reel.zarr"]
    assert client.get("/api/reels").status_code == 200
    for rid in bad_ids + damaged:
        codes = [
            client.get(url).status_code
            for url in (f"/api/reels/{rid}", f"/api/reels/{rid}/frames/1", f"/api/reels/{rid}/frames/2/after.png")
        ]
        codes.append(
            client.post(
                f"/api/reels/{rid}/actions", json={"action": "approve", "frames": [1]}, headers={**ORIGIN, "X-CSRF-Token": csrf}
            ).status_code
        )
        # An invalid id is refused; a damaged store answers what it can (an image needs no event log), never 500.
        assert all(400 <= c < 500 for c in codes) if rid in bad_ids else all(c < 500 for c in codes), (rid[:40], codes)
    assert [client.get(f"/api/reels/{rid}").status_code for rid in damaged] == [404, 404, 404]


def test_frame_has_timecode_and_flagged_neighbours_and_the_check_is_named(site):
    client, _ = signed_in(site)
    info = client.get(f"/api/reels/{RID}/frames/3").json()
    assert (info["timecode"], info["fps"]) == ("01:00:00:03", "24000/1001")
    flagged = np.flatnonzero(ProvenanceStore(site["store"].path).status() == STATUS["flagged"]).tolist()
    assert info["flagged_frames"] == flagged and info["pending_frames"] == 1
    assert info["reasons"][0]["by"] is None and info["reasons"][0]["user"] == "checker"


def test_timecode_non_drop_and_drop_frame():
    from fractions import Fraction

    from restoration.io.timecode import frame_timecode

    assert frame_timecode("01:00:00:00", Fraction(24000, 1001), 24) == "01:00:01:00"
    assert frame_timecode(None, Fraction(25), 25 * 3600 * 24 + 3) == "00:00:00:03"  # wraps at 24 h
    assert frame_timecode("00:00:59;29", Fraction(30000, 1001), 1) == "00:01:00;02"  # frames 0, 1 dropped
    assert frame_timecode("00:00:00;00", Fraction(30000, 1001), 17982) == "00:10:00;00"  # not at minute 10
    assert frame_timecode("23:59:59:23", Fraction(24), 1) == "00:00:00:00"


def test_mask_overlay_image_is_red_where_replaced_and_transparent_elsewhere(site):
    client, _ = signed_in(site)
    r = client.get(f"/api/reels/{RID}/frames/2/overlay.png")
    assert r.status_code == 200
    rgba = cv2.cvtColor(cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    assert rgba.shape == (H, W, 4)
    mask = np.zeros((H, W), bool)
    mask[5:8, 10:13] = True
    assert (rgba[mask] == (255, 40, 40, 255)).all() and (rgba[~mask] == 0).all()


def test_audit_export_csv_and_premis_json(site):
    import csv
    import io
    import json

    client, csrf = signed_in(site)
    act(client, csrf, "approve", [1], note="fine")
    store = ProvenanceStore(site["store"].path)
    events = store.events()
    r = client.get(f"/api/reels/{RID}/audit.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="reel-audit.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["kind"] for row in rows] == [e["kind"] for e in events]
    approved = [row for row in rows if row["kind"] == "frame_approved"][-1]
    assert (approved["user"], approved["frames"], approved["note"]) == ("ada", "1", "fine")
    data = client.get(f"/api/reels/{RID}/audit.json").json()
    assert data["object"] == {
        "objectIdentifierType": "SHA-256",
        "objectIdentifierValue": store.info.sha256,
        "originalName": store.info.path,
    }
    assert [e["eventType"] for e in data["events"]] == [e["kind"] for e in events]
    premis = [e for e in data["events"] if e["eventType"] == "frame_approved"][-1]
    assert premis["linkingAgentIdentifier"] == [
        {"linkingAgentIdentifierType": "user", "linkingAgentIdentifierValue": "ada", "linkingAgentRole": "operator"}
    ]
    assert premis["linkingObjectIdentifier"][0]["frames"] == [1] and premis["eventDetailInformation"] == {"eventDetail": "note: fine"}
    assert json.loads(json.dumps(premis["extension"])) == [e for e in events if e["kind"] == "frame_approved"][-1]
    assert client.get(f"/api/reels/{RID}/audit.xml").status_code == 404
    assert TestClient(site["app"]).get(f"/api/reels/{RID}/audit.csv").status_code == 401


def test_mask_correction_api_keeps_both_masks_and_sends_the_frame_back(site):
    import base64

    from restoration.pipeline.operator_masks import DETECTED_DIR, OPERATOR_DIR, detected_mask, operator_mask

    client, csrf = signed_in(site)
    store = ProvenanceStore(site["store"].path)
    detected = store.read_diff(2, 3)[0][0]
    corrected = detected.copy()
    corrected[5:8, 10:13] = False  # a false detection removed
    corrected[15:17, 20:22] = True  # a missed speck added
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[corrected] = (40, 40, 255, 255)  # BGRA as OpenCV writes it: red, opaque
    png = "data:image/png;base64," + base64.b64encode(cv2.imencode(".png", rgba)[1].tobytes()).decode()
    headers = {**ORIGIN, "X-CSRF-Token": csrf}
    r = client.post(f"/api/reels/{RID}/frames/2/mask", json={"png": png}, headers=headers)
    assert r.status_code == 200, r.text
    assert (r.json()["mask"]["added"], r.json()["mask"]["removed"], r.json()["status"]) == (4, 9, "reprocess")
    store = ProvenanceStore(site["store"].path)
    assert np.array_equal(operator_mask(store, 2), corrected) and np.array_equal(detected_mask(store, 2), detected)
    assert (store.path / OPERATOR_DIR / "00000002.png").is_file() and (store.path / DETECTED_DIR / "00000002.png").is_file()
    assert store.status()[2] == STATUS["reprocess"]
    kinds = [(e["kind"], e["user"]) for e in store.events()[-3:]]
    assert kinds == [("mask_corrected", "ada"), ("frame_reprocess_requested", "ada"), ("reprocess_started", "ada")]
    # A second correction keeps the first detected mask.
    assert client.post(f"/api/reels/{RID}/frames/2/mask", json={"png": png}, headers=headers).status_code == 200
    assert np.array_equal(detected_mask(ProvenanceStore(site["store"].path), 2), detected)

    wrong = "data:image/png;base64," + base64.b64encode(cv2.imencode(".png", np.zeros((5, 5), np.uint8))[1].tobytes()).decode()
    assert client.post(f"/api/reels/{RID}/frames/2/mask", json={"png": wrong}, headers=headers).status_code == 422
    assert client.post(f"/api/reels/{RID}/frames/2/mask", json={"png": "not base64!"}, headers=headers).status_code == 422
    assert client.post(f"/api/reels/{RID}/frames/5/mask", json={"png": png}, headers=headers).status_code == 409  # pending
    viewer, vcsrf = signed_in(site, "vic", "viewer pass")
    r = viewer.post(f"/api/reels/{RID}/frames/2/mask", json={"png": png}, headers={**ORIGIN, "X-CSRF-Token": vcsrf})
    assert r.status_code == 403


def test_actions_refuse_a_store_that_fails_its_check_and_a_store_a_run_holds(tmp_path):
    """A lost mask chunk of a finished frame: the action is refused with 409 naming the frame; a
    store another run holds: 409, and no status changes in either case."""
    root = tmp_path / "out"
    lost = make_store(root / "lost")
    lost.chunk_file("mask", 2).unlink()  # frame 2 has damage: its mask chunk must be there
    held = make_store(root / "held")
    users = tmp_path / "users.json"
    add_user(users, "ada", "correct horse", "operator")
    client, csrf = signed_in({"app": dashboard(root, users)})
    headers = {**ORIGIN, "X-CSRF-Token": csrf}
    r = client.post("/api/reels/lost/reel.zarr/actions", json={"action": "approve", "frames": [1]}, headers=headers)
    assert r.status_code == 409 and "frame 2" in r.json()["detail"], r.text
    assert lost.status(1, 2)[0] == STATUS["done"]
    with RunLock(held.path, "restore"):
        r = client.post("/api/reels/held/reel.zarr/actions", json={"action": "approve", "frames": [1]}, headers=headers)
    assert r.status_code == 409, r.text
    assert held.status(1, 2)[0] == STATUS["done"]
