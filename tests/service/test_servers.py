"""Two Stance servers on one machine, as one user, keep out of each other's way."""

import os

import pytest
import requests

from ..helpers import start_gunicorn, stop

pytestmark = [pytest.mark.slow, pytest.mark.server]


def test_two_servers_run_side_by_side_and_leave_no_shared_control_socket(model_dir, tmp_path):
    # gunicorn 25.1+ would put one control socket per user in one of these two places; a second
    # server took it over, and deleted it on exit, from under the first.
    user_home, runtime = tmp_path / "home", tmp_path / "run"
    user_home.mkdir()
    runtime.mkdir()
    env = {"HOME": str(user_home), "XDG_RUNTIME_DIR": str(runtime)}
    folders = [tmp_path / "first", tmp_path / "second"]
    for folder in folders:
        folder.mkdir()
    first, first_base = start_gunicorn(model_dir, folders[0], workers=1, env=env)
    try:
        second, second_base = start_gunicorn(model_dir, folders[1], workers=1, env=env)
        try:
            for base in (first_base, second_base):
                answer = requests.post(f"{base}/v1/predict", json={"text": "We condemn it."})
                assert answer.status_code == 200, answer.text
        finally:
            stop(second)
        assert requests.get(f"{first_base}/readyz", timeout=5).status_code == 200
    finally:
        stop(first)
    assert not (user_home / ".gunicorn").exists()
    assert os.listdir(runtime) == []
