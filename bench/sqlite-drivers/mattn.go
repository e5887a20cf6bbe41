//go:build mattn

package main

import (
	"fmt"

	_ "github.com/mattn/go-sqlite3"
)

const driver = "mattn"

func open(path string, pageSize, mmap int) (name, dsn string) {
	return "sqlite3", fmt.Sprintf("file:%s?_busy_timeout=10000&_journal_mode=WAL&_synchronous=NORMAL&_page_size=%d&_mmap_size=%d", path, pageSize, mmap)
}
