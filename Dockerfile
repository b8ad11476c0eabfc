# Charter's container image: FROM scratch with exactly the files the binary needs.
#
# No registry is reachable where Charter is built, so there is no base image to pull:
# scripts/image assembles the build context's rootfs/ locally (docs/kubernetes.md,
# "The image"):
#   rootfs/usr/local/bin/charter            the charter binary (release build)
#   rootfs/lib..., rootfs/lib64/...         the shared libraries `ldd` names for it
#                                           (glibc, libgcc_s, libm and the loader,
#                                           from this machine's Debian packages)
#   rootfs/etc/ssl/certs/ca-certificates.crt   Debian's CA bundle (TLS to Prometheus,
#                                           PostgreSQL, HTTP actuators, the API server)
#   rootfs/etc/passwd, rootfs/etc/group     the user and group charter (65532)
#   rootfs/etc/nsswitch.conf, rootfs/etc/hosts   name resolution
#   rootfs/tmp                              mode 1777: writable by the non-root user
#   rootfs/var/lib/charter                  owned by 65532: the default --db location
# Build with: scripts/image (buildah), or any OCI builder on that context.
FROM scratch

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z

LABEL org.opencontainers.image.title="charter" \
      org.opencontainers.image.description="Charter, a self-healing controller: watches objectives in Prometheus and remedies violations through actuators" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="docs/kubernetes.md" \
      org.opencontainers.image.base.name="scratch"

COPY rootfs/ /

ENV PATH=/usr/local/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    CHARTER_LISTEN=0.0.0.0:8464

# The numeric user, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /var/lib/charter
EXPOSE 8464
ENTRYPOINT ["charter"]
CMD ["--help"]
