"""JupyterLab in headless Chromium: notebook 01 runs, its figures render, the explorer reacts.

Issue 17, item 3: the design card makes interactive exploration in JupyterLab a primary use, so
this test drives a real JupyterLab the way a person would. It starts ``jupyter lab`` from this
environment on a free port with a random token, temporary Jupyter config/runtime/settings folders
and the repository as its root; opens a copy of notebook 01 (outputs cleared; smoke profile, run
store and output folder in ``tmp_path``, so no recorded result is touched) with one more cell that
shows the run explorer (``fisherlab.explorer``); runs all cells from the Run menu; checks that an
inline figure rendered; changes the explorer's metric and checks that its plot changed.
Screenshots for a person to look at land in ``outputs/browser/``.

Needs Chromium (Debian: ``apt-get install chromium``) and Playwright for Python
(``pip install -e ".[browser]"``); Chromium is launched from its system path, Playwright's own
browser download is not used. Skipped, with the reason, when either is missing.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import REPO
from PIL import Image

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason='Playwright for Python is not installed (pip install -e ".[browser]")',
)
pytest.importorskip("jupyterlab", reason='JupyterLab is not installed (pip install -e ".[dev]")')
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "Chromium not found on PATH (Debian: apt-get install chromium)", allow_module_level=True
    )

NOTEBOOK = "01_fisher_explosion"
SCREENSHOTS = REPO / "outputs" / "browser"
EXPLORER_CELL = """\
# the run explorer over this notebook's runs (added by tests/test_browser.py)
from fisherlab import explorer

explorer.explorer(P.runs_dir, explorer.run_index(P.runs_dir))"""
RUN_ALL_TIMEOUT_S = 20 * 60  # smoke training on a loaded 2-core machine
WIDGET_TIMEOUT_MS = 60_000


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: where to reach it and the notebook copy it serves."""

    url: str
    token: str
    notebook: str  # path of the notebook copy, relative to the server root
    log: Path

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(
            f"{self.url}/api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None


def _notebook_copy(folder: Path, tmp_path: Path) -> Path:
    """Notebook 01 without outputs, at the smoke profile with its run store and outputs in
    tmp_path, and the explorer cell appended."""
    nb = json.loads((REPO / "notebooks" / f"{NOTEBOOK}.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    (params,) = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    params["source"] = "".join(params["source"]).rstrip("\n") + (
        f'\nprofile = "smoke"\noutput_dir = {str(tmp_path / "out")!r}\n'
        f"runs_dir = {str(tmp_path / 'runs')!r}  # set by tests/test_browser.py"
    )
    nb["cells"].append(
        {
            "cell_type": "code",
            "id": "browser-test-explorer",
            "metadata": {},
            "source": EXPLORER_CELL,
            "outputs": [],
            "execution_count": None,
        }
    )
    path = folder / f"{NOTEBOOK}.ipynb"
    path.write_text(json.dumps(nb, indent=1))
    return path


def _jupyter_env(tmp_path: Path) -> dict[str, str]:
    """Temporary Jupyter folders, all cells in the DOM, no news pop-up."""
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        env[name] = str(tmp_path / "jupyter" / name.lower())
    env["IPYTHONDIR"] = str(tmp_path / "jupyter" / "ipython")
    settings = tmp_path / "jupyter" / "settings"
    env["JUPYTERLAB_SETTINGS_DIR"] = str(settings)
    for plugin, values in {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return env


def _stop(server: subprocess.Popen, lab: Lab) -> None:
    """Shut the kernels down through the API, then the server."""
    try:
        for kernel in lab.api("kernels"):
            lab.api(f"kernels/{kernel['id']}", method="DELETE")
    except OSError:  # urllib's errors included
        pass  # the server is gone already; its kernels went with it
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """``jupyter lab`` on a free port with a random token, serving the repository root, with the
    notebook copy in a temporary folder inside it; stopped and removed even when the test fails."""
    token = secrets.token_hex(16)
    port = _free_port()
    folder = REPO / f"browser-test-{token[:8]}"  # inside the server root; .gitignore'd
    folder.mkdir()
    log = tmp_path / "jupyter-lab.log"
    lab = Lab(
        url=f"http://127.0.0.1:{port}",
        token=token,
        notebook=_notebook_copy(folder, tmp_path).relative_to(REPO).as_posix(),
        log=log,
    )
    command = [
        *(sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}"),
        *(f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO}"),
        "--ServerApp.port_retries=0",
        *(["--allow-root"] if os.geteuid() == 0 else []),  # CI containers run as root
    ]
    with log.open("w") as out:
        server = subprocess.Popen(
            command, env=_jupyter_env(tmp_path), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited with {server.returncode}:\n{log.read_text()}")
            try:
                lab.api("status")
                break
            except OSError:  # not listening yet
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer within 120 s:\n{log.read_text()}")
                time.sleep(1)
        yield lab
    finally:
        _stop(server, lab)
        shutil.rmtree(folder, ignore_errors=True)


def _kernel_idle(page: Page, timeout_s: float) -> None:
    """Wait until the status bar reads '<kernel name> | Idle' (the toolbar's execution
    indicator says idle before any kernel exists, so it cannot tell)."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')].some(e => {
            const t = e.textContent.trim();
            return t.endsWith('| Idle') && !t.startsWith('No Kernel');
        })""",
        timeout=timeout_s * 1000,
        polling=1000,
    )


def _run_all(page: Page) -> None:
    """Run → Run All Cells, then wait until no cell is queued or running and the kernel idles."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                .map(p => p.textContent.trim());
            return prompts.length && /\\d/.test(prompts[0]) && !prompts.some(t => t.includes('*'));
        }""",
        timeout=RUN_ALL_TIMEOUT_S * 1000,
        polling=2000,
    )
    _kernel_idle(page, 60)
    errors = page.locator(".jp-OutputArea-output").filter(has_text="Traceback")
    if errors.count():
        pytest.fail(f"a cell raised in JupyterLab:\n{errors.first.inner_text()[-3000:]}")
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
    unrun = [i for i, t in enumerate(prompts) if not any(c.isdigit() for c in t)]
    assert not unrun, f"Run All Cells left code cells {unrun} unexecuted: prompts {prompts}"


def _shows(locator: Locator) -> bool:
    """Whether the element appears within WIDGET_TIMEOUT_MS."""
    try:
        locator.wait_for(timeout=WIDGET_TIMEOUT_MS)
    except sync_api.TimeoutError:
        return False
    return True


def _screenshot(target: Page | Locator, name: str) -> None:
    """outputs/browser/<name>.png of a page or element, in 256 colours to keep the file small."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    target.screenshot(path=path)
    Image.open(path).convert("RGB").quantize(colors=256).save(path, optimize=True)


def test_notebook_and_explorer_in_jupyterlab(lab: Lab, tmp_path: Path) -> None:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{lab.url}/lab/tree/{lab.notebook}?token={lab.token}")
            page.locator(".jp-NotebookPanel .jp-CodeCell").first.wait_for(timeout=120_000)
            _kernel_idle(page, 120)
            _run_all(page)

            cells = page.locator(".jp-NotebookPanel .jp-CodeCell")
            figures = cells.locator(".jp-OutputArea-output img")
            assert figures.count(), "no inline figure (<img>) in any output after Run All Cells"
            sizes = figures.evaluate_all("imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])")
            assert any(w >= 300 and h >= 150 for w, h in sizes), (
                f"the inline figures are too small to be plots: {sizes}"
            )
            figures.first.evaluate("e => e.scrollIntoView({block: 'center'})")
            _screenshot(page, "notebook_after_run_all")

            explorer_cell = cells.last
            widget = explorer_cell.locator(".jp-OutputArea-output .widget-vbox")
            if not _shows(widget):
                shown = explorer_cell.locator(".jp-OutputArea").inner_text()[:500]
                pytest.fail(
                    "the run explorer's widget did not render in JupyterLab (expected an "
                    "ipywidgets VBox with a metric dropdown and a plot); its cell shows: "
                    f"{shown or '(no output)'!r}"
                )
            metric = (
                widget.locator(".widget-dropdown")
                .filter(has=page.locator("label", has_text="metric"))
                .locator("select")
            )
            plot = widget.locator(".widget-output img")
            assert _shows(plot), (
                "the run explorer rendered without a plot; it shows: "
                f"{widget.locator('.widget-output').inner_text()[:500]!r}"
            )
            before = plot.get_attribute("src")
            widget.scroll_into_view_if_needed()
            _screenshot(widget, "explorer_before")

            metric.select_option(label="train_loss")
            deadline = time.monotonic() + WIDGET_TIMEOUT_MS / 1000
            while (after := plot.get_attribute("src")) == before and time.monotonic() < deadline:
                time.sleep(0.5)
            changed = after != before  # not in the assert: pytest would print both images
            assert changed, (
                f"the explorer's plot did not change within {WIDGET_TIMEOUT_MS // 1000} s of "
                "setting its metric to train_loss (the same image is shown)"
            )
            width = plot.evaluate("i => i.naturalWidth")
            assert width >= 300, f"the explorer's new plot is {width} px wide"
            _screenshot(widget, "explorer_after_metric_change")
        except (Exception, pytest.fail.Exception):
            page.screenshot(path=tmp_path / "failure.png")
            print(f"screenshot at failure: {tmp_path / 'failure.png'}; server log: {lab.log}")
            raise
        finally:
            browser.close()
