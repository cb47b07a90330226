/*
 * An ipmi_sim loadable module (lan.conf: `loadlib "/path/nmi_diag.so" ""`) that makes Chassis Control
 * "pulse diagnostic interrupt" (`ipmitool chassis power diag`, data 0x04) send an NMI through the
 * channel's HW_OP_SEND_NMI: with `serial ... codec VM`, QEMU's ipmi-bmc-extern turns it into an NMI.
 * Stock ipmi_sim answers that request 0xCC (invalid data field); every other Chassis Control request
 * goes to the stock handler (ipmi_sim exports its chassis table, so the module keeps it to call).
 */
#include <stddef.h>
#include <OpenIPMI/ipmi_msgbits.h>
#include <OpenIPMI/ipmi_err.h>
#include <OpenIPMI/serv.h>
#include <OpenIPMI/lanserv.h>
#include <OpenIPMI/mcserv.h>

extern cmd_handler_f chassis_netfn_handlers[256];

static sys_data_t *sim;
static cmd_handler_f stock_chassis_control;

static void chassis_control(lmc_data_t *mc, msg_t *msg, unsigned char *rdata,
                            unsigned int *rdata_len, void *cb_data)
{
    channel_t **chans;
    unsigned int i;

    if (msg->len < 1 || (msg->data[0] & 0x0f) != 4) {
        stock_chassis_control(mc, msg, rdata, rdata_len, cb_data);
        return;
    }
    chans = sim->mc_get_channelset(mc);
    rdata[0] = IPMI_INVALID_DATA_FIELD_CC;
    *rdata_len = 1;
    for (i = 0; i < IPMI_MAX_CHANNELS; i++) {
        if (chans[i] && chans[i]->hw_op && HW_OP_CAN_NMI(chans[i])) {
            chans[i]->hw_op(chans[i], HW_OP_SEND_NMI);
            rdata[0] = 0;
            return;
        }
    }
}

int ipmi_sim_module_init(sys_data_t *sys, const char *initstr)
{
    (void) initstr;
    sim = sys;
    stock_chassis_control = chassis_netfn_handlers[IPMI_CHASSIS_CONTROL_CMD];
    if (stock_chassis_control == NULL)
        return 1;
    return ipmi_emu_register_cmd_handler(IPMI_CHASSIS_NETFN, IPMI_CHASSIS_CONTROL_CMD, chassis_control, NULL);
}
