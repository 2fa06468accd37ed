# A scratch image in the Prometheus style: it holds only the static binary
# that `make build` produced, the CA certificates (TLS probes verify real
# certificates) and a passwd entry for nobody. Build it with `make image`,
# which stages these files in .build/image/ first; no base image is pulled.
FROM scratch

ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="warden_exporter" \
      org.opencontainers.image.description="Prometheus exporter: is each service running, listening where it should, and answering?" \
      org.opencontainers.image.source="https://github.com/warden-exporter/warden_exporter" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

COPY passwd group /etc/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY warden_exporter /bin/warden_exporter

USER nobody
EXPOSE 9863
ENTRYPOINT ["/bin/warden_exporter"]
