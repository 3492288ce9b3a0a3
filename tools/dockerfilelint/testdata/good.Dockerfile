ARG BASE=scratch
FROM ${BASE} AS base
COPY --chmod=0755 tool /tool
ENTRYPOINT ["/tool"]
