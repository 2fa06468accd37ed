// Copyright 2026 The warden_exporter Authors
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

package config

import (
	"fmt"
	"regexp"
	"regexp/syntax"
)

// maxRegexpLength bounds a pattern's source.
const maxRegexpLength = 4096

// A pattern's source says little about what it costs compiled: within
// 4 KiB, `\pL{1000}` repeated compiles to ~25 MB (each repetition is an
// instruction, each \pL 1,292 runes), and Go allows up to 128 MB. So the
// cost is estimated from the parsed pattern, before compiling it, and
// bounded per pattern and for all the distinct patterns of a file.
const (
	maxRegexpCost   = 256 << 10 // estimated bytes compiled, one pattern
	maxRegexpBudget = 2 << 20   // estimated bytes compiled, all of a file's
)

// compileRegexp compiles src if it is within the limits of one pattern,
// and returns its estimated cost in bytes.
func compileRegexp(src string) (*regexp.Regexp, int64, error) {
	if len(src) > maxRegexpLength {
		return nil, 0, fmt.Errorf("regular expression is %d bytes long, the limit is %d", len(src), maxRegexpLength)
	}
	// The flags regexp.Compile parses with.
	parsed, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil, 0, fmt.Errorf("does not compile: %w", err)
	}
	cost := regexpCost(parsed)
	if cost > maxRegexpCost {
		return nil, 0, fmt.Errorf("regular expression compiles to about %d KiB, the limit is %s", (cost+1023)>>10, byteSize(maxRegexpCost))
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, 0, fmt.Errorf("does not compile: %w", err)
	}
	return re, cost, nil
}

// regexpCost estimates what a parsed pattern costs compiled, in bytes,
// pessimistically: an instruction is 40 bytes, kept about twice (the
// program and, for anchored patterns, its one-pass copy), a rune of a
// character class 4, and a compiled Regexp about 1 KiB besides.
func regexpCost(re *syntax.Regexp) int64 {
	insts, runes := regexpSize(re)
	return 80*insts + 4*runes + 1024
}

// regexpSize counts the instructions a pattern compiles to, the way
// regexp/syntax's own size check does (repetitions multiply), and the
// runes its character classes hold.
func regexpSize(re *syntax.Regexp) (insts, runes int64) {
	var subInsts, subRunes int64
	for _, sub := range re.Sub {
		i, r := regexpSize(sub)
		subInsts += i
		subRunes += r
	}
	runes = subRunes
	switch re.Op {
	case syntax.OpLiteral:
		insts = int64(len(re.Rune))
	case syntax.OpCharClass:
		insts, runes = 1, runes+int64(len(re.Rune))
	case syntax.OpCapture, syntax.OpStar:
		insts = 2 + subInsts
	case syntax.OpPlus, syntax.OpQuest:
		insts = 1 + subInsts
	case syntax.OpConcat:
		insts = subInsts
	case syntax.OpAlternate:
		insts = subInsts + int64(len(re.Sub))
	case syntax.OpRepeat:
		switch {
		case re.Max == -1 && re.Min == 0:
			insts = 2 + subInsts
		case re.Max == -1:
			insts = 1 + int64(re.Min)*subInsts
		default:
			insts = int64(re.Max)*subInsts + int64(re.Max-re.Min)
		}
	}
	return max(1, insts), runes
}
