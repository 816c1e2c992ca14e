"""webstats driven through a real browser: Debian's chromium, through Debian's chromedriver,
by Selenium (never Selenium Manager: the driver's path is given, nothing is downloaded).
Load the page, pause and resume the refresh, drain a server through its form (CSRF cookie,
POST, redirect), see the banner and the new state, and find no Content-Security-Policy
violation, neither in the console nor as a `securitypolicyviolation` event."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from support.control import cmd, start_pen
from support.webstats import (ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, VrrpStandIn, WebstatsServer,
                              HISTORY_INTERVAL, vrrp_instance)

CHROMEDRIVER = Path("/usr/bin/chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (the test extra)")
pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                 reason="needs chromium and chromium-driver "
                                        "(scripts/debian-packages.txt)")]

# recorded before any page script could run, on every document the tab loads
WATCH_CSP = """window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
  e.violatedDirective + ' ' + (e.blockedURI || 'inline')));"""


@pytest.fixture
def browser(monkeypatch):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    monkeypatch.setenv("SE_OFFLINE", "true")          # belt and braces: no Selenium Manager
    profile = tempfile.mkdtemp(prefix="selenium-chromium-")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}", "--window-size=1280,1400"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_CSP})
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def served(backends):
    a, b = backends("echo", "a", "b")
    directory = Path(tempfile.mkdtemp(prefix="wss-"))
    pen, ctl = start_pen(directory, a.addr, b.addr, opts=["-r"],
                         history_interval=HISTORY_INTERVAL)
    ws = None
    # penvrrp's /status.json by a stand-in (the real endpoint is built on another branch)
    standin = VrrpStandIn("lb1", vrrp_instance())
    (directory / "cluster.toml").write_text(
        f'[[node]]\nname = "lb1"\ncontrol = "{ctl}"\nvrrp = "{standin.url}"\n'
        f'[[node]]\nname = "lb2"\ncontrol = "{directory}/gone.sock"\n')
    try:
        ws = WebstatsServer(ctl, "--actions", "--vrrp-status", standin.url, "--cluster",
                            str(directory / "cluster.toml"), env={"WEBSTATS_SECRET": "selenium"})
        yield ws, ctl
    finally:
        if ws is not None:
            ws.stop()
        standin.stop()
        pen.stop()
        shutil.rmtree(directory, ignore_errors=True)


def violations(driver) -> list[str]:
    console = [entry["message"] for entry in driver.get_log("browser")
               if "Content Security Policy" in entry["message"] or entry["level"] == "SEVERE"]
    return console + list(driver.execute_script("return window.__csp || []"))


def test_drain_through_the_form_and_toggle_the_refresh(browser, served) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    ws, ctl = served
    wait = WebDriverWait(browser, 20)

    browser.get(ws.url + "/")
    assert browser.title.startswith("pen ")
    refresh = browser.find_elements(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]')
    assert [m.get_attribute("content") for m in refresh] == ["10"]
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.server")
    assert [r.get_attribute("data-state") for r in rows] == ["up", "up"]

    # the refresh toggle: pause (no meta refresh), then resume
    toggle = browser.find_element(By.ID, "refresh-toggle")
    assert toggle.text == "pause"
    toggle.click()
    wait.until(lambda d: d.find_element(By.ID, "refresh-toggle").text == "resume")
    assert browser.current_url.endswith("/?refresh=0")
    assert browser.find_elements(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]') == []
    browser.find_element(By.ID, "refresh-toggle").click()
    wait.until(lambda d: d.find_element(By.ID, "refresh-toggle").text == "pause")
    assert browser.current_url.endswith("/?refresh=10")

    # drain server 1 through its form: open "manage", press "drain"
    row = browser.find_element(By.ID, "server-1")
    row.find_element(By.TAG_NAME, "summary").click()
    button = row.find_element(By.CSS_SELECTOR, 'button[value="drain"]')
    wait.until(ec.element_to_be_clickable(button))
    button.click()
    banner = wait.until(ec.presence_of_element_located((By.ID, "done")))
    assert banner.text == "Server 1 is draining."
    assert "done=drain&server=1" in browser.current_url
    row = browser.find_element(By.ID, "server-1")
    assert row.get_attribute("data-state") == "draining"
    assert row.find_elements(By.CSS_SELECTOR, 'button[value="undrain"]')
    states = {s["index"]: s["state"] for s in json.loads(cmd(ctl, "snapshot_json"))["servers"]}
    assert states[1] == "draining" and states[0] == "up"
    cookie = browser.get_cookie("webstats_session")
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # this node's VRRP state beside pen's, and the cluster page one click away
    badge = browser.find_element(By.CSS_SELECTOR, 'span.vrrp[data-vrrp="VI_51"]')
    assert badge.text == "VRRP VI_51 MASTER"
    browser.find_element(By.CSS_SELECTOR, 'a[href="/cluster"]').click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "article.node"))
    nodes = browser.find_elements(By.CSS_SELECTOR, "article.node")
    assert [(n.get_attribute("data-node"), n.get_attribute("data-pen")) for n in nodes] == \
        [("lb1", "up"), ("lb2", "down")]
    assert "pen unreachable" in nodes[1].text
    assert browser.find_elements(By.ID, "cluster-warning") == []      # lb1 is MASTER
    assert [r.get_attribute("data-state") for r in
            browser.find_elements(By.CSS_SELECTOR, "tr.vrrp-instance")] == ["MASTER"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "webstats-cluster.png"))

    assert violations(browser) == []
    # the watch works: a style the policy does not allow is reported
    browser.execute_script("const s = document.createElement('style');"
                           "s.textContent = 'body{color:red}'; document.head.append(s);")
    WebDriverWait(browser, 5).until(lambda d: d.execute_script("return window.__csp.length"))
    assert any("style-src" in v for v in violations(browser))
