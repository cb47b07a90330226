// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module for the throwaway QEMU guest (test/kit/build-guest.sh): a kthread named
 * "lockup-test" spins with preemption off for `secs` seconds, so the soft-lockup watchdog reports
 * "watchdog: BUG: soft lockup - CPU#0 stuck for Ns! [lockup-test:PID]". Never load it elsewhere.
 */
#include <linux/err.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/preempt.h>

static unsigned int secs = 12;
module_param(secs, uint, 0444);
MODULE_PARM_DESC(secs, "seconds the kthread spins with preemption off (1..600)");

static int lockup_test(void *unused)
{
	unsigned long end = jiffies + (unsigned long)secs * HZ;

	preempt_disable();
	while (time_before(jiffies, end))
		cpu_relax();
	preempt_enable();
	pr_info("lockup-test: spun %u s with preemption off\n", secs);
	return 0;
}

static int __init spin_init(void)
{
	struct task_struct *t;

	if (secs < 1 || secs > 600)
		return -EINVAL;
	t = kthread_run(lockup_test, NULL, "lockup-test");
	return PTR_ERR_OR_ZERO(t);
}
/* No module_exit: the module cannot be unloaded while (or after) its thread runs its code. */
module_init(spin_init);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("sysrq-bridge test guest: a kthread that spins with preemption off");
