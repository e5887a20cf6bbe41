//go:build ncruces

package main

import (
	"fmt"

	_ "github.com/ncruces/go-sqlite3/driver"
)

const driver = "ncruces"

func open(path string, pageSize, mmap int) (name, dsn string) {
	return "sqlite3", fmt.Sprintf("file:%s?_pragma=page_size(%d)&_pragma=mmap_size(%d)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)", path, pageSize, mmap)
}
