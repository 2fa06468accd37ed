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

package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	sloggokit "github.com/tjhop/slog-gokit"
)

// timeKey is the timestamp key of every line. The slog bridge writes slog's
// "time" key, so our own lines use the same one and both look alike.
const timeKey = slog.TimeKey

// newLoggers returns the exporter's go-kit logger and, for exporter-toolkit,
// a *slog.Logger that writes through the same go-kit logger, so every line
// has one format and one level filter.
func newLoggers(w io.Writer, format, lvl string) (log.Logger, *slog.Logger, error) {
	var base log.Logger
	switch format {
	case "logfmt":
		base = log.NewLogfmtLogger(log.NewSyncWriter(w))
	case "json":
		base = log.NewJSONLogger(log.NewSyncWriter(w))
	default:
		return nil, nil, fmt.Errorf("unknown log format %q (use logfmt or json)", format)
	}
	var allow level.Option
	var slogLevel slog.Level
	switch lvl {
	case "debug":
		allow, slogLevel = level.AllowDebug(), slog.LevelDebug
	case "info":
		allow, slogLevel = level.AllowInfo(), slog.LevelInfo
	case "warn":
		allow, slogLevel = level.AllowWarn(), slog.LevelWarn
	case "error":
		allow, slogLevel = level.AllowError(), slog.LevelError
	default:
		return nil, nil, fmt.Errorf("unknown log level %q (use debug, info, warn or error)", lvl)
	}
	filtered := level.NewFilter(base, allow)
	logger := log.With(filtered, "caller", log.DefaultCaller, timeKey, log.DefaultTimestampUTC)
	// The bridge adds its own time and caller; it only needs UTC to match.
	bridged := slog.New(sloggokit.NewGoKitHandler(utcTimes(filtered), slogLevel))
	return logger, bridged, nil
}

// utcTimes rewrites time.Time values to UTC, as our own timestamps are.
func utcTimes(next log.Logger) log.Logger {
	return log.LoggerFunc(func(keyvals ...any) error {
		for i, v := range keyvals {
			if t, ok := v.(time.Time); ok {
				keyvals[i] = t.UTC()
			}
		}
		return next.Log(keyvals...)
	})
}
