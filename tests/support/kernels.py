"""Running code in a real kernel of a user's running server, through the hub's proxy:
the kernels REST API and the kernel's websocket (Jupyter's JSON messages)."""

from __future__ import annotations

import asyncio
import json
import uuid

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect


def _message(code: str, session: str) -> dict:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "username": "moss-test",
            "session": session,
            "msg_type": "execute_request",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False},
        "channel": "shell",
        "buffers": [],
    }


async def _execute(url: str, token: str, code: str, timeout: float) -> str:
    request = HTTPRequest(url, headers={"Authorization": f"token {token}"})
    ws = await asyncio.wait_for(websocket_connect(request), timeout)
    try:
        message = _message(code, uuid.uuid4().hex)
        await ws.write_message(json.dumps(message))
        out: list[str] = []
        while True:
            raw = await asyncio.wait_for(ws.read_message(), timeout)
            if raw is None:
                raise RuntimeError("the kernel's websocket closed: " + "".join(out))
            reply = json.loads(raw)
            if reply.get("parent_header", {}).get("msg_id") != message["header"]["msg_id"]:
                continue
            kind = reply["msg_type"]
            if kind == "stream":
                out.append(reply["content"]["text"])
            elif kind == "error":
                raise RuntimeError("\n".join(reply["content"]["traceback"]))
            elif kind == "status" and reply["content"]["execution_state"] == "idle":
                return "".join(out)
    finally:
        ws.close()


def run_in_kernel(hub, user: str, code: str, server: str = "", timeout: float = 60) -> str:
    """What ``code`` prints in a new kernel of ``user``'s running server (the server's
    default kernel: the Python that runs the server). The kernel is shut down after."""
    token = hub.user_token(user)
    prefix = f"/user/{user}/{server + '/' if server else ''}api/kernels"
    r = hub.request_with(token, "POST", prefix, json={})
    assert r.status_code == 201, r.text[:500]
    kernel = r.json()["id"]
    try:
        ws_url = hub.url.replace("http://", "ws://", 1) + f"{prefix}/{kernel}/channels"
        return asyncio.run(_execute(ws_url, token, code, timeout))
    finally:
        hub.request_with(token, "DELETE", f"{prefix}/{kernel}")
