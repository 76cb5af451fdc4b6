package ownership

import "sync"

// SlowStartInitialBatchSize is upstream's first batch of a slow start.
const SlowStartInitialBatchSize = 1

// SlowStartBatch calls fn count times in batches that double in size
// (1, 2, 4, ...), stopping after the first batch with an error, so a
// controller whose creates all fail (quota, invalid template) sends one
// failing request instead of count. It returns how many calls succeeded and
// the first error.
func SlowStartBatch(count, initialBatchSize int, fn func() error) (int, error) {
	remaining := count
	successes := 0
	for batch := min(remaining, initialBatchSize); batch > 0; batch = min(2*batch, remaining) {
		var wg sync.WaitGroup
		errs := make(chan error, batch)
		for i := 0; i < batch; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		successes += batch - len(errs)
		if len(errs) > 0 {
			return successes, <-errs
		}
		remaining -= batch
	}
	return successes, nil
}
