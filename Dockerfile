# msm-relay image: the `deno task compile` binary (assets/ embedded) on a distroless base with glibc.
#   docker build -t registry.example.com/msm-relay:0.1.0 .
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 ... (each stage runs per platform).
# The build stage downloads npm packages and Deno's denort runtime, so it needs network access.

FROM denoland/deno:2.9.6 AS build
WORKDIR /src
COPY . .
RUN deno task compile && ./dist/msm-relay --help >/dev/null

# glibc and libgcc (a Deno binary needs both), CA certificates, no shell; user nonroot = 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/dist/msm-relay /msm-relay
USER 65532:65532
# RTSP, admin HTTP (probes, API, peer protocol), mesh UDP; RTP/RTCP use udpPortRange (10000-19999) as well.
EXPOSE 8554/tcp 8080/tcp 7000/udp
ENTRYPOINT ["/msm-relay"]
