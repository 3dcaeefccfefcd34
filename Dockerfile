# Klaxon's image: one static binary on distroless, as the chart (charts/klaxon) runs it.
#   make image IMG=ghcr.io/klaxon-ops/klaxon:0.1.0
# The binary carries its own time-zone database and default policies; git is go-git,
# so nothing else is needed at run time.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
COPY policies/ policies/
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/klaxon ./cmd/klaxon

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/klaxon /klaxon
USER 65532:65532
ENTRYPOINT ["/klaxon"]
