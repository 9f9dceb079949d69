# The parsimony binary in a small image. Build: docker build -t parsimony .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/parsimony ./cmd/parsimony

FROM debian:bookworm-slim
# tzdata: the site's time zone decides how usage is split into days.
# fonts-dejavu-core: statement PDFs print names in any script DejaVu covers (without
# it they fall back to Helvetica, and anything outside Windows-1252 prints as "?").
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /nonexistent parsimony
COPY --from=build /out/parsimony /usr/local/bin/parsimony
USER parsimony
ENTRYPOINT ["parsimony"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
