#!/usr/bin/python3
"""An on-path attacker of an open mesh (tests only, loopback only, needs root).

Sniffs the loopback interface for the first unsealed mesh RTP frame (wire version 1) sent to TARGET_HOST:PORT,
learns its stream id, its sender's address and its RTP sequence number, then sends COUNT forged frames of that
stream from its own address (an ordinary UDP socket: a receiver that checks senders refuses them), then COUNT
more with the sender's address and port spoofed (raw IPv4 socket), numbered just ahead of the stream so that a
receiver takes them as new. Each forged RTP payload carries the index 0xfffffff0 at offset 12, which the test's
reader recognises. Prints one JSON line: {"streamId", "from", "seq", "sent", "spoofed"}.

Usage: mesh_spoof.py TARGET_HOST TARGET_PORT COUNT TIMEOUT_SECONDS
"""
import json
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
FORGED_INDEX = 0xFFFFFFF0


def sniff(target_host: str, target_port: int, timeout: float):
    sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(ETH_P_ALL))
    sniffer.bind(("lo", 0))
    sniffer.settimeout(0.2)
    target = socket.inet_aton(target_host)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            try:
                frame = sniffer.recv(65535)
            except socket.timeout:
                continue
            ip = frame[14:]
            if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17 or ip[16:20] != target:
                continue
            ihl = (ip[0] & 0x0F) * 4
            udp = ip[ihl:]
            sport, dport = struct.unpack("!HH", udp[:4])
            mesh = udp[8:]
            # Version 1, type 0 (RTP), then a 12-byte RTP header at least.
            if dport != target_port or len(mesh) < 18 or mesh[0] != 0x10:
                continue
            stream_id = struct.unpack("!I", mesh[2:6])[0]
            seq = struct.unpack("!H", mesh[8:10])[0]
            return socket.inet_ntoa(ip[12:16]), sport, stream_id, mesh[1], bytes(mesh[6:18]), seq
    finally:
        sniffer.close()
    return None


def forge(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload  # checksum 0: none (IPv4)
    total = 20 + len(udp)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return header + udp


def main() -> None:
    host, port, count, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    seen = sniff(host, port, timeout)
    if seen is None:
        print(json.dumps({"error": "no unsealed mesh RTP frame seen"}))
        sys.exit(2)
    src, sport, stream_id, track, rtp_header, seq = seen

    def frame(k: int) -> bytes:
        rtp = bytearray(rtp_header)
        struct.pack_into("!H", rtp, 2, (seq + 200 + k) & 0xFFFF)
        body = bytes(rtp) + struct.pack("!I", FORGED_INDEX) + b"\x41" + bytes(183)
        return bytes([0x10, track]) + struct.pack("!I", stream_id) + body

    plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    for k in range(count):
        plain.sendto(frame(k), (host, port))
        sent += 1
        time.sleep(0.002)
    plain.close()
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    spoofed = 0
    for k in range(count, 2 * count):
        raw.sendto(forge(src, sport, host, port, frame(k)), (host, 0))
        spoofed += 1
        time.sleep(0.002)
    raw.close()
    print(json.dumps({"streamId": stream_id, "from": f"{src}:{sport}", "seq": seq, "sent": sent, "spoofed": spoofed}))


if __name__ == "__main__":
    main()
