"""The report opened in a real headless Chromium (Debian's `chromium`), driven over the DevTools
protocol on a pipe (Python stdlib only): no console error, no network request, a screenshot that
is not blank, and names with markup shown as text."""

from __future__ import annotations

import base64
import io
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from augrepro.report.build import build_report
from augrepro.results.verdicts import write_chosen_verdicts

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
PUBLISHED_DIR = ROOT / "resources" / "published"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed with apt-get when absent (root only)."""
    if not Path(CHROMIUM).exists():
        if os.geteuid() != 0:
            pytest.skip("chromium is not installed and installing it needs root: apt-get install -y chromium")
        if shutil.which("apt-get") is None:
            pytest.skip("chromium is not installed and apt-get is not available on this machine")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
        if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, check=True, capture_output=True)
            subprocess.run(cmd, env=env, check=True, capture_output=True)
    return CHROMIUM


class Browser:
    """Headless Chromium over --remote-debugging-pipe: we write to its fd 3, it writes to fd 4;
    each message is JSON followed by a NUL byte."""

    def __init__(self, binary: str, profile: Path):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_pipes():  # runs in the child: put the pipe ends on fds 3 and 4, inheritable
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--remote-debugging-pipe",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--disable-extensions",
            # nothing may leave the machine even if the page asked for it (a request is still seen)
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args, preexec_fn=wire_pipes, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _read(self, predicate, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "method" in msg:
                    self.events.append(msg)
                if predicate(msg):
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe (did it crash?)")
                self._buf += chunk

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 20.0) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        reply = self._read(lambda m, i=self._next_id: m.get("id") == i, timeout)
        if reply is None:
            raise TimeoutError(f"no reply from chromium to {method}")
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def open(self, url: str, width: int = 1280, height: int = 1600) -> bytes:
        """Load ``url``, wait for the load event and a quiet moment, return a full-page PNG."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Network.enable", "Page.enable"):
            self.call(domain, session=session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        self.call("Page.navigate", {"url": url}, session=session)
        if self._read(lambda m: m.get("method") == "Page.loadEventFired", 30.0) is None:
            raise TimeoutError(f"{url} did not finish loading")
        self._read(lambda m: False, 0.5)  # late console messages and requests
        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session)
        self.session = session
        return base64.b64decode(shot["data"])

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page that ``open`` loaded (the rendered DOM)."""
        reply = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=self.session)
        return reply["result"].get("value")

    def console_errors(self) -> list[str]:
        out = []
        for e in self.events:
            p = e["params"]
            if e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert", "warning"):
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
            elif e["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append(d.get("exception", {}).get("description", d.get("text", "exception")))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                out.append(p["entry"]["text"])
        return out

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            self._next_id += 1
            os.write(self._to_child, json.dumps({"id": self._next_id, "method": "Browser.close"}).encode() + b"\0")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._to_child)
            os.close(self._from_child)


def visit(binary: str, page: Path, tmp_path: Path, probe: str | None = None):
    """Open ``page``; return the browser (its console and requests), a full-page PNG and, with ``probe``, the
    value of that JavaScript expression in the rendered page."""
    browser = Browser(binary, tmp_path / "profile")
    try:
        png = browser.open(page.resolve().as_uri())
        value = browser.evaluate(probe) if probe else None
    finally:
        browser.close()
    return (browser, png, value) if probe else (browser, png)


def outside_requests(browser: Browser, page: Path) -> list[str]:
    """Requests other than the page itself and inline data: URIs."""
    return [u for u in browser.requested_urls() if u != page.resolve().as_uri() and not u.startswith("data:")]


def colors(png: bytes) -> tuple[int, float]:
    """Distinct colours, and the share of the pixels that have the most common one."""
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    packed = (image[:, 0].astype(np.int64) << 16) | (image[:, 1].astype(np.int64) << 8) | image[:, 2]
    _, counts = np.unique(packed, return_counts=True)
    return len(counts), float(counts.max()) / len(packed)


def test_harness_sees_console_errors_and_requests(chromium, tmp_path):
    """The checks below can fail: a page with an error, an exception and a remote image."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body><p>x</p>'
        '<img src="http://example.invalid/pixel.png">'
        '<script>console.error("boom"); undefinedFunction();</script></body></html>'
    )
    browser, png = visit(chromium, page, tmp_path)
    errors = browser.console_errors()
    assert any("boom" in e for e in errors), errors
    assert any("undefinedFunction" in e for e in errors), errors
    assert outside_requests(browser, page) == ["http://example.invalid/pixel.png"]
    assert colors(png)[1] > 0.98  # a near-empty page is told apart from a rendered report


EVIL = '<script>console.error("injected")</script><img src="http://example.invalid/x.png">'


def make_previews(tmp_path: Path) -> list[Path]:
    """Real previews of three methods on a few demo images (augrepro.report.preview)."""
    from augrepro.data.demo import build_arrays
    from augrepro.data.prepared import PreparedData, save_prepared
    from augrepro.report.preview import render_preview

    train_x, train_y, test_x, test_y = build_arrays(train_size=40, test_size=10)
    data = tmp_path / "demo.npz"
    save_prepared(PreparedData(train_x, train_y, test_x, test_y, [f"digit{i}" for i in range(10)]), data)
    return [
        render_preview(data, "demo", m, tmp_path / "preview" / "demo" / f"{m}.png", params=p, count=4)
        for m, p in (("baseline", {}), ("cutmix", {}), ("saliencymix", {"variant": "official", "prob": 0.5}))
    ]


def test_report_in_chromium(chromium, tmp_path):
    rng = np.random.default_rng(0)
    runs, curves, summary = [], [], []
    for aug in ("baseline", "saliencymix", EVIL):
        best = []
        for seed in range(3):
            errors = 4.0 + 60.0 / np.arange(2, 202) + rng.normal(0, 0.2, 200)
            best.append(float(errors.min()))
            runs.append(
                {
                    "protocol": "saliencymix_cifar",
                    "dataset": "cifar10",
                    "traditional": True,
                    "model": "resnet18",
                    "augmentation": aug,
                    "method": aug,
                    "variant": "official",
                    "seed": seed,
                    "epochs": 200,
                    "hours": 0.9,
                    "device": "cuda",
                    "device_name": "NVIDIA H100",
                    "code_version": EVIL,
                }
            )
            curves += [
                {
                    "protocol": "saliencymix_cifar",
                    "dataset": "cifar10",
                    "traditional": True,
                    "model": "resnet18",
                    "augmentation": aug,
                    "seed": seed,
                    "epoch": e + 1,
                    "train_loss": 1.0,
                    "test_top1_error": errors[e],
                    "test_top5_error": errors[e] / 4,
                }
                for e in range(200)
            ]
        summary.append(
            {
                "protocol": "saliencymix_cifar",
                "dataset": "cifar10",
                "traditional": True,
                "model": "resnet18",
                "augmentation": aug,
                "method": aug,
                "variant": "official",
                "n": 3,
                "epochs": 200,
                "best_top1_error_mean": np.mean(best),
                "best_top1_error_std": np.std(best, ddof=1),
                "final_top1_error_mean": np.mean(best) + 0.2,
                "median_last10_top1_error_mean": np.mean(best) + 0.1,
                "hours_mean": 0.9,
                "hours_std": 0.02,
            }
        )
    pd.DataFrame(summary).to_csv(tmp_path / "summary.csv", index=False)
    pd.DataFrame(runs).to_csv(tmp_path / "runs.csv", index=False)
    pd.DataFrame(curves).to_csv(tmp_path / "curves.csv", index=False)
    page = tmp_path / "report.html"
    from augrepro.studies import select_from_config

    studies = select_from_config({"studies": "all", "data": {"imagenet_path": str(tmp_path)}}, ROOT).describe()
    for study in studies["studies"]:
        if study["name"] == "saliencymix_cifar":
            study["grid"] += [["saliencymix_cifar", "cifar10+", "resnet18", EVIL]]
    previews = make_previews(tmp_path)
    write_chosen_verdicts(studies, tmp_path / "summary.csv", tmp_path / "runs.csv", PUBLISHED_DIR, tmp_path / "v")
    build_report(
        tmp_path / "summary.csv",
        tmp_path / "runs.csv",
        tmp_path / "curves.csv",
        PUBLISHED_DIR,
        page,
        studies=studies,
        verdicts_dir=tmp_path / "v",
        provenance={"note": EVIL},
        previews=previews,
    )

    probe = """JSON.stringify({
        claims: [...document.querySelectorAll('#study-saliencymix_cifar table.claims tbody tr')].length,
        claimVerdicts: [...document.querySelectorAll('#study-saliencymix_cifar table.claims td[class^=claim-]')].map(t => t.dataset.verdict),
        forest: [...document.querySelectorAll('#study-saliencymix_cifar img')].filter(i => i.alt.includes('90 % interval')).map(i => i.naturalWidth),
        gallery: [...document.querySelectorAll('#gallery figure figcaption')].map(f => f.textContent),
        galleryWidths: [...document.querySelectorAll('#gallery figure img')].map(i => i.getBoundingClientRect().width),
    })"""
    browser, png, found = visit(chromium, page, tmp_path, probe)
    found = json.loads(found)
    # the claims section and the forest plot are rendered
    assert found["claims"] >= 5 and set(found["claimVerdicts"]) <= {"holds", "fails", "inconclusive", "not run"}
    assert found["forest"] and all(w > 300 for w in found["forest"])
    # each preview shows its method applied: the mixed row differs from the original where the method changes
    # pixels (SaliencyMix's official variant mixes a batch with probability 0.5: forced to 1 for the preview)
    captions = {c.split(":")[0]: c for c in found["gallery"]}
    assert "0 of 4 images changed" in captions["demo / baseline"]
    for method in ("cutmix", "saliencymix"):
        changed = int(captions[f"demo / {method}"].split(": ")[1].split(" of ")[0])
        assert changed > 0, captions[f"demo / {method}"]
    assert all(w >= 1000 for w in found["galleryWidths"])  # legible at page width
    assert browser.console_errors() == []
    assert outside_requests(browser, page) == []
    assert page.resolve().as_uri() in browser.requested_urls()
    (tmp_path / "screenshot.png").write_bytes(png)
    image = Image.open(io.BytesIO(png))
    assert image.width >= 1200 and image.height > 3000  # the whole page, not one viewport
    distinct, background = colors(png)
    assert distinct > 500 and background < 0.95, (distinct, background)  # tables and figures, not blank
