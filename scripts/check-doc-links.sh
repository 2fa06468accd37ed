#!/usr/bin/env bash
# Checks the relative links of README.md, CHANGELOG.md and docs/*.md: every
# linked file exists, and every #anchor is a heading of its target, spelled
# as GitHub makes anchors (lower case, punctuation dropped, spaces to "-").
# External (http, mailto) links are not followed. Exits 1 on a broken link.
set -euo pipefail
cd "$(dirname "$0")/.."

# anchors FILE: one GitHub anchor per heading, outside fenced code.
anchors() {
	awk '/^```/{f=!f; next} !f && /^#+ /' "$1" |
		sed -E 's/^#+ +//; s/[[:space:]]+$//' |
		tr '[:upper:]' '[:lower:]' |
		sed -E 's/[^a-z0-9 _-]//g; s/ /-/g'
}

bad=0
for doc in README.md CHANGELOG.md docs/*.md; do
	dir=$(dirname "$doc")
	# Links outside fenced code and inline code spans: ](target)
	while IFS= read -r target; do
		case "$target" in http://* | https://* | mailto:*) continue ;; esac
		file=${target%%#*}
		anchor=""
		[[ "$target" == *"#"* ]] && anchor=${target#*#}
		path=$doc
		[ -n "$file" ] && path=$dir/$file
		if [ ! -e "$path" ]; then
			echo "$doc: $target: no such file $path"
			bad=1
			continue
		fi
		if [ -n "$anchor" ] && ! anchors "$path" | grep -qxF -- "$anchor"; then
			echo "$doc: $target: no heading for #$anchor in $path"
			bad=1
		fi
	done < <(awk '/^```/{f=!f; next} !f' "$doc" | sed -E 's/`[^`]*`//g' |
		grep -oE '\]\([^) ]+\)' | sed -E 's/^\]\(//; s/\)$//')
done
[ "$bad" = 0 ] && echo "doc links: OK"
exit "$bad"
