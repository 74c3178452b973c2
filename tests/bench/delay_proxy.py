#!/usr/bin/env python3
"""A TCP proxy that adds a fixed one-way delay to every byte in both directions, so a
loopback link gets a round-trip time of 2 x delay (a stand-in for `tc netem`, which would
slow every loopback user of the machine). Order is kept; bandwidth is not limited.

Usage: delay_proxy.py --target HOST:PORT --delay-ms MS [--listen HOST:PORT]
Prints "delay_proxy listening on HOST:PORT" on stdout once it accepts connections.
"""
import argparse
import asyncio
import socket
import sys


async def pump(reader, writer, delay):
    """Copies reader -> writer, each chunk delivered `delay` seconds after it arrived."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            queue.put_nowait((loop.time() + delay, data))
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((loop.time() + delay, None))
    try:
        await sender
    except (ConnectionError, OSError):
        pass


def no_delay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--listen", default="127.0.0.1:0")
    args = parser.parse_args()
    target_host, target_port = args.target.rsplit(":", 1)
    listen_host, listen_port = args.listen.rsplit(":", 1)
    delay = args.delay_ms / 1000.0

    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(target_host,
                                                                         int(target_port))
        except OSError:
            client_writer.close()
            return
        no_delay(client_writer)
        no_delay(server_writer)
        await asyncio.gather(pump(client_reader, server_writer, delay),
                             pump(server_reader, client_writer, delay))

    server = await asyncio.start_server(handle, listen_host, int(listen_port))
    host, port = server.sockets[0].getsockname()[:2]
    print(f"delay_proxy listening on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
