# Workshop labs (workshop/): each creates its situation on the running stack (native or
# compose) with fresh data, and checks an attendee's answer against the expected one, which
# `make lab` writes to .run/labs/lab<N>.answer.json. ANSWER reaches Python through the
# environment, so quotes and spaces in it need no escaping. LAB_OPTS passes options to
# `python -m workshop create`, e.g. a shorter lab 6: LAB_OPTS='--before 5 --down 0 --after 5'.
LABS := $(PY) -m workshop

.PHONY: lab
lab: ## Create workshop lab N's situation with fresh data: make lab N=1 (1-6, workshop/)
	@[[ "$(N)" =~ ^[1-6]$$ ]] || { echo "usage: make lab N=<1-6>  (workshop/README.md)" >&2; exit 2; }
	@$(LABS) create $(N) $(LAB_OPTS)

.PHONY: lab-check
lab-check: ## Check an answer to lab N: make lab-check N=1 ANSWER='lines=5' (prints PASS or FAIL)
	@[[ "$(N)" =~ ^[1-6]$$ ]] || { echo "usage: make lab-check N=<1-6> ANSWER='...'" >&2; exit 2; }
	@$(LABS) check $(N) "$${ANSWER-}"  # no ANSWER: the lab's own usage line, exit 2
