//go:build modernc

package main

import (
	"fmt"

	_ "modernc.org/sqlite"
)

const driver = "modernc"

func open(path string, pageSize, mmap int) (name, dsn string) {
	return "sqlite", fmt.Sprintf("file:%s?_pragma=page_size(%d)&_pragma=mmap_size(%d)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)", path, pageSize, mmap)
}
