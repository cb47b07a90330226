/** The console sessions attached to each port: lease changes are told to every viewer of the port. */
export interface HubMember {
  readonly portId: string;
  leaseChanged(): void;
}

export class ConsoleHub {
  private readonly members = new Set<HubMember>();

  join(member: HubMember): () => void {
    this.members.add(member);
    return () => this.members.delete(member);
  }

  leaseChanged(portId: string): void {
    for (const member of this.members) if (member.portId === portId) member.leaseChanged();
  }

  viewers(portId: string): number {
    let count = 0;
    for (const member of this.members) if (member.portId === portId) count += 1;
    return count;
  }
}
