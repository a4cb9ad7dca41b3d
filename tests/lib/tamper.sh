# tamper.sh: changing a snapshot as someone with push access to a remote
# could, with nothing but git plumbing. Source after test-lib.sh; needs
# REPO (the repository) and GOOD (a good snapshot's commit on backup/app).
#   plant PATH TEXT: a new tip of backup/app: GOOD's tree plus (or with) the
#   file PATH holding TEXT, under the same MANIFEST.json and message.
plant() {
	local blob tree commit
	blob=$(printf '%s' "$2" | git --git-dir="$REPO" hash-object -w --stdin)
	git --git-dir="$REPO" read-tree --index-output="$T/plant.idx" "$GOOD"
	GIT_INDEX_FILE="$T/plant.idx" git --git-dir="$REPO" update-index --add --cacheinfo "100644,$blob,$1"
	tree=$(GIT_INDEX_FILE="$T/plant.idx" git --git-dir="$REPO" write-tree)
	rm -f "$T/plant.idx"
	commit=$(git --git-dir="$REPO" log -1 --format=%B "$GOOD" | git --git-dir="$REPO" commit-tree "$tree" -p "$GOOD")
	git --git-dir="$REPO" update-ref refs/heads/backup/app "$commit"
}
