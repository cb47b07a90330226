/** The console sessions attached to each port, counted for GET /ports and the metrics. */
export interface HubMember {
  readonly portId: string;
}

export class ConsoleHub {
  private readonly members = new Set<HubMember>();

  join(member: HubMember): () => void {
    this.members.add(member);
    return () => this.members.delete(member);
  }

  viewers(portId: string): number {
    let count = 0;
    for (const member of this.members) if (member.portId === portId) count += 1;
    return count;
  }
}
