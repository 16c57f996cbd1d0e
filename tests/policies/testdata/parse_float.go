// Reads one string a line and prints what Go's strconv.ParseFloat(s, 64) makes of it
// ("error" where it fails), for go_float_test.ts to compare with parseGoFloat.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		f, err := strconv.ParseFloat(in.Text(), 64)
		if err != nil {
			fmt.Fprintln(out, "error")
		} else {
			fmt.Fprintln(out, strconv.FormatFloat(f, 'g', -1, 64))
		}
	}
}
